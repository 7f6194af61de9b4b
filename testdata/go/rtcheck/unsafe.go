package main

import "unsafe"

// unsafePointer turns an address into a pointer, to fault on purpose.
func unsafePointer(addr uintptr) unsafe.Pointer {
	return unsafe.Add(nil, addr)
}
