// clockloop reads the clocks N times through time.Now (the Go runtime's
// walltime and nanotime, which use the vDSO's __vdso_clock_gettime when
// the kernel provides one) and checks the monotonic reading never goes
// back. sentry/tests/golang.rs runs it natively and in the sandbox, and
// counts the clock_gettime syscalls the sandbox saw (issue 11).
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	n := 100000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil {
			fmt.Println("bad count:", err)
			os.Exit(2)
		}
		n = v
	}
	start := time.Now()
	last := start
	back := 0
	for i := 0; i < n; i++ {
		t := time.Now()
		if t.Before(last) {
			back++
		}
		last = t
	}
	elapsed := time.Since(start)
	wall := time.Now().Unix() - start.Unix()
	fmt.Printf("%d time.Now calls, %d backwards, elapsed positive %v, wall clock sane %v\n",
		n, back, elapsed > 0, wall >= 0 && wall < 60)
}
