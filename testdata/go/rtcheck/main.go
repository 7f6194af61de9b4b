// Command rtcheck exercises the parts of the Go runtime and standard
// library that lean hardest on the kernel ABI, for the sentry's tests:
// hardware faults turned into panics (SIGSEGV, SIGFPE, with the signal
// context rewritten by the runtime), deep stack growth, the garbage
// collector under many threads, timers, os/exec with pipes between
// children, file I/O (seek, pread/pwrite, truncate, links, chdir),
// /proc/self, os/signal, runtime.LockOSThread, many children at once, and
// finally syscall.Exec of itself from a busy multithreaded process.
//
// It prints only deterministic text and exits with status 0 when every
// check passed (the last one in the re-executed image), 1 otherwise.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var failed bool

func check(what string, ok bool, detail ...any) {
	if ok {
		fmt.Printf("ok   %s\n", what)
		return
	}
	failed = true
	fmt.Printf("FAIL %s %v\n", what, detail)
}

//go:noinline
func deref(p *int) int { return *p }

//go:noinline
func divide(a, b int) int { return a / b }

func recovered(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
			// Faults with panic-on-fault carry the faulting address.
			if a, ok := r.(interface{ Addr() uintptr }); ok {
				msg += fmt.Sprintf(" addr=%#x", a.Addr())
			}
		}
	}()
	f()
	return "no panic"
}

func faults() {
	msg := recovered(func() { deref(nil) })
	check("nil dereference becomes a panic", strings.Contains(msg, "nil pointer dereference"), msg)
	zero := 0
	msg = recovered(func() { divide(1, zero) })
	check("division by zero becomes a panic", strings.Contains(msg, "integer divide by zero"), msg)
	// A fault at an address that is not nil: the runtime reads si_addr.
	debug.SetPanicOnFault(true)
	msg = recovered(func() {
		p := (*int)(unsafePointer(0xdead0000))
		_ = deref(p)
	})
	debug.SetPanicOnFault(false)
	check("fault at 0xdead0000 becomes a panic with its address",
		strings.Contains(msg, "addr=0xdead0000"), msg)
}

//go:noinline
func recurse(n int) int {
	var pad [64]byte
	pad[n%64] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return recurse(n-1) + int(pad[n%64]&1)
}

func stacks() {
	// About 200 000 frames of ~100 bytes: the goroutine stack grows (and is
	// copied) many times.
	done := make(chan int)
	go func() { done <- recurse(200000) }()
	check("deep recursion on a goroutine", <-done == 100000)
}

type node struct {
	next *node
	buf  []byte
}

func garbage() {
	var wg sync.WaitGroup
	sums := make([]int, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var keep *node
			for i := 0; i < 20000; i++ {
				n := &node{buf: make([]byte, 64+i%512)}
				n.buf[0] = byte(i)
				if i%100 == 0 {
					n.next = keep
					keep = n
				}
			}
			for n := keep; n != nil; n = n.next {
				sums[g] += int(n.buf[0])
			}
		}(g)
	}
	wg.Wait()
	runtime.GC()
	big := make([]byte, 64<<20)
	for i := 0; i < len(big); i += 4096 {
		big[i] = 1
	}
	total := 0
	for i := 0; i < len(big); i += 4096 {
		total += int(big[i])
	}
	big = nil
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	check("garbage from 8 goroutines, a 64 MiB slice, GC and FreeOSMemory",
		sums[0] == sums[7] && total == 16384 && ms.NumGC >= 2, sums[0], sums[7], total)
}

func timers() {
	// Registering the timers can take milliseconds in a sandbox, so the
	// order they fire in is not fixed: check Linux's guarantee instead,
	// that none fires before its deadline (on the monotonic clock).
	var wg sync.WaitGroup
	var mu sync.Mutex
	early := 0
	start := time.Now()
	for _, ms := range []int{25, 5, 15, 1, 10} {
		wg.Add(1)
		deadline := time.Since(start) + time.Duration(ms)*time.Millisecond
		time.AfterFunc(time.Duration(ms)*time.Millisecond, func() {
			if time.Since(start) < deadline {
				mu.Lock()
				early++
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	check("five timers fire, none before its deadline", early == 0, early)
	check("25 ms of timers take at least 25 ms", elapsed >= 25*time.Millisecond, elapsed)
	tick := time.NewTicker(2 * time.Millisecond)
	for i := 0; i < 5; i++ {
		<-tick.C
	}
	tick.Stop()
	check("a ticker ticks", true)
}

func pipes() {
	// A | B through an os.Pipe between two children of this program.
	self, err := os.Executable()
	if err != nil {
		check("os.Executable", false, err)
		return
	}
	r, w, err := os.Pipe()
	if err != nil {
		check("os.Pipe", false, err)
		return
	}
	producer := exec.Command(self, "produce")
	producer.Stdout = w
	consumer := exec.Command(self, "consume")
	consumer.Stdin = r
	var out bytes.Buffer
	consumer.Stdout = &out
	err1 := producer.Start()
	err2 := consumer.Start()
	w.Close()
	r.Close()
	err3 := producer.Wait()
	err4 := consumer.Wait()
	check("producer | consumer through os.Pipe",
		err1 == nil && err2 == nil && err3 == nil && err4 == nil &&
			out.String() == "consumed 1000 lines, 3890 bytes\n",
		err1, err2, err3, err4, out.String())

	// A child that is killed by a signal, and one that is not found.
	sleeper := exec.Command(self, "sleep")
	if err := sleeper.Start(); err != nil {
		check("start sleeper", false, err)
		return
	}
	sleeper.Process.Signal(syscall.SIGTERM)
	err = sleeper.Wait()
	var ee *exec.ExitError
	sig := ""
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig = ws.Signal().String()
		}
	}
	check("a child killed by SIGTERM", sig == "terminated", err)
	err = exec.Command("/nonexistent/program").Run()
	check("running a missing program fails with ENOENT", errors.Is(err, os.ErrNotExist), err)
}

func fileio() {
	dir, err := os.MkdirTemp("", "sentry-go-runtime-")
	if err != nil {
		check("MkdirTemp", false, err)
		return
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "f")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		check("create", false, err)
		return
	}
	f.WriteString("0123456789")
	f.WriteAt([]byte("AB"), 4)
	f.Seek(2, io.SeekStart)
	b := make([]byte, 4)
	io.ReadFull(f, b)
	check("write, pwrite, seek, read", string(b) == "23AB", string(b))
	f.Truncate(6)
	st, _ := f.Stat()
	check("ftruncate", st.Size() == 6, st.Size())
	f.Close()
	_, err = os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	check("O_EXCL on an existing file is EEXIST", errors.Is(err, os.ErrExist), err)
	check("link", os.Link(p, p+".hard") == nil)
	check("symlink", os.Symlink("f", p+".sym") == nil)
	target, err := os.Readlink(p + ".sym")
	check("readlink", target == "f", target, err)
	st2, err := os.Stat(p + ".hard")
	check("hard link has the same size", err == nil && st2.Size() == 6, err)
	old, _ := os.Getwd()
	check("chdir", os.Chdir(dir) == nil)
	data, err := os.ReadFile("f.sym")
	check("read through a relative symlink", string(data) == "0123AB", string(data), err)
	wd, _ := os.Getwd()
	check("getwd", wd == dir, wd)
	os.Chdir(old)
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	sort.Strings(names)
	check("glob", fmt.Sprint(names) == "[f f.hard f.sym]", names)
	// io.Copy between two *os.File uses copy_file_range(2) when the kernel
	// has it (and falls back to read/write on ENOSYS or EXDEV).
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	os.WriteFile(filepath.Join(dir, "big"), big, 0o600)
	src, err1 := os.Open(filepath.Join(dir, "big"))
	dst, err2 := os.Create(filepath.Join(dir, "copy"))
	n, err3 := io.Copy(dst, src)
	src.Close()
	dst.Close()
	copied, _ := os.ReadFile(filepath.Join(dir, "copy"))
	check("io.Copy of 1 MiB between files", err1 == nil && err2 == nil && err3 == nil &&
		n == int64(len(big)) && bytes.Equal(copied, big), n, err1, err2, err3)
	exe, _ := os.Readlink("/proc/self/exe")
	self, _ := os.Executable()
	check("/proc/self/exe is os.Executable", exe == self && exe != "", exe, self)
}

func signals() {
	c := make(chan os.Signal, 4)
	signal.Notify(c, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP)
	// From another thread, several signals.
	var wg sync.WaitGroup
	for _, s := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP} {
		wg.Add(1)
		go func(s syscall.Signal) {
			defer wg.Done()
			syscall.Kill(os.Getpid(), s)
		}(s)
	}
	wg.Wait()
	got := map[string]bool{}
	timeout := time.After(10 * time.Second)
	for len(got) < 3 {
		select {
		case s := <-c:
			got[s.String()] = true
		case <-timeout:
			check("three signals through os/signal", false, got)
			return
		}
	}
	signal.Reset()
	check("three signals through os/signal", true)
	signal.Ignore(syscall.SIGUSR1)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	time.Sleep(time.Millisecond)
	check("an ignored signal does not kill", true)
}

func locked() {
	done := make(chan [2]int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		a := syscall.Gettid()
		time.Sleep(3 * time.Millisecond)
		runtime.Gosched()
		done <- [2]int{a, syscall.Gettid()}
	}()
	t := <-done
	check("LockOSThread keeps the thread", t[0] == t[1] && t[0] > 0, t)
}

// execAttrs starts children with os/exec's process attributes, which the
// runtime applies in the child between a raw vfork-like clone and execve,
// and reports a failed execve back through a close-on-exec pipe.
func execAttrs() {
	self, _ := os.Executable()
	dir, err := os.MkdirTemp("", "sentry-go-exec-")
	if err != nil {
		check("MkdirTemp", false, err)
		return
	}
	defer os.RemoveAll(dir)

	cmd := exec.Command(self, "attrs")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	extra, w, _ := os.Pipe()
	w.WriteString("through fd 3")
	w.Close()
	cmd.ExtraFiles = []*os.File{extra}
	out, err := cmd.Output()
	extra.Close()
	check("child with Dir, Setpgid, Pdeathsig and ExtraFiles",
		err == nil && string(out) == "cwd "+dir+"\nown group true\nfd 3: through fd 3\n", err, string(out))

	cmd = exec.Command(self, "attrs")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err = cmd.Output()
	check("child with Setsid", err == nil && strings.Contains(string(out), "own group true\nfd 3: none"),
		err, string(out))

	cmd = exec.Command(self, "attrs")
	cmd.Dir = filepath.Join(dir, "missing")
	err = cmd.Run()
	check("a chdir failing in the child comes back as ENOENT", errors.Is(err, syscall.ENOENT), err)

	script := filepath.Join(dir, "not-elf")
	os.WriteFile(script, []byte("just text\n"), 0o755)
	err = exec.Command(script).Run()
	check("execve of a non-ELF without #! is ENOEXEC", errors.Is(err, syscall.ENOEXEC), err)

	// busybox-static (scripts/setup.sh): the sandbox runs static programs.
	os.WriteFile(script, []byte("#!/bin/busybox sh\necho from a script \"$1\"\n"), 0o755)
	out, err = exec.Command(script, "arg").Output()
	check("execve of a #! script", err == nil && string(out) == "from a script arg\n", err, string(out))

	os.Chmod(script, 0o644)
	err = exec.Command(script).Run()
	check("execve of a file without x bits is EACCES", errors.Is(err, syscall.EACCES), err)
}

// blockedThreads blocks 40 goroutines in raw read(2) on pipes (not on the
// poller), so the runtime must start an OS thread for each, then releases
// them one by one.
func blockedThreads() {
	const n = 40
	var fds [n][2]int
	for i := range fds {
		if err := syscall.Pipe2(fds[i][:], syscall.O_CLOEXEC); err != nil {
			check("pipe2", false, err)
			return
		}
	}
	results := make(chan int, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			b := make([]byte, 8)
			m, _ := syscall.Read(fds[i][0], b)
			results <- int(b[0]) * m
		}(i)
	}
	time.Sleep(20 * time.Millisecond)
	for i := 0; i < n; i++ {
		syscall.Write(fds[i][1], []byte{byte(i)})
	}
	sum := 0
	for i := 0; i < n; i++ {
		sum += <-results
	}
	for i := range fds {
		syscall.Close(fds[i][0])
		syscall.Close(fds[i][1])
	}
	check("40 goroutines blocked in read(2) on their own threads", sum == n*(n-1)/2, sum)
}

// concurrentExec runs 30 children at once from 30 goroutines (so from
// several threads), each with its own argument and exit status.
func concurrentExec() {
	self, _ := os.Executable()
	var wg sync.WaitGroup
	bad := make(chan string, 30)
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			arg := fmt.Sprint(i * 37)
			out, err := exec.Command(self, "echo", arg).Output()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			if string(out) != "echo "+arg+"\n" || code != len(arg) {
				bad <- fmt.Sprintf("%d: %q %d %v", i, out, code, err)
			}
		}(i)
	}
	wg.Wait()
	close(bad)
	var errs []string
	for b := range bad {
		errs = append(errs, b)
	}
	check("30 children run at once from 30 goroutines", len(errs) == 0, errs)
}

// execWhileBusy replaces the process with syscall.Exec while other threads
// are sleeping in a loop and one spins: Linux's execve stops them all
// first. The new image prints the last line and exits 0.
func execWhileBusy() {
	self, _ := os.Executable()
	for i := 0; i < 4; i++ {
		go func() {
			for {
				time.Sleep(time.Microsecond)
			}
		}()
	}
	var stop int32
	go spin(&stop)
	time.Sleep(20 * time.Millisecond)
	env := append(os.Environ(), "RTCHECK_PID="+fmt.Sprint(os.Getpid()))
	err := syscall.Exec(self, []string{self, "after-exec"}, env)
	check("syscall.Exec from a busy multithreaded process", false, err)
}

var sink int64

// spin loops without function calls until stop is set.
func spin(stop *int32) {
	x := int64(0)
	for atomic.LoadInt32(stop) == 0 {
		x++
	}
	atomic.AddInt64(&sink, x)
}

func helper(mode string) int {
	switch mode {
	case "echo":
		fmt.Printf("echo %s\n", os.Args[2])
		return len(os.Args[2])
	case "after-exec":
		check("syscall.Exec from a busy multithreaded process keeps the pid",
			os.Getenv("RTCHECK_PID") == fmt.Sprint(os.Getpid()))
		if failed {
			return 1
		}
	case "attrs":
		wd, _ := os.Getwd()
		fmt.Printf("cwd %s\n", wd)
		fmt.Printf("own group %v\n", syscall.Getpgrp() == os.Getpid())
		f := os.NewFile(3, "extra")
		b := make([]byte, 64)
		if n, err := f.Read(b); err == nil {
			fmt.Printf("fd 3: %s\n", b[:n])
		} else {
			fmt.Printf("fd 3: none\n")
		}
	case "produce":
		for i := 0; i < 1000; i++ {
			fmt.Printf("%d\n", i)
		}
	case "consume":
		data, _ := io.ReadAll(os.Stdin)
		fmt.Printf("consumed %d lines, %d bytes\n", bytes.Count(data, []byte("\n")), len(data))
	case "sleep":
		time.Sleep(60 * time.Second)
	}
	return 0
}

func main() {
	if len(os.Args) > 1 {
		os.Exit(helper(os.Args[1]))
	}
	faults()
	stacks()
	garbage()
	timers()
	pipes()
	fileio()
	signals()
	locked()
	execAttrs()
	blockedThreads()
	concurrentExec()
	if failed {
		os.Exit(1)
	}
	execWhileBusy()
	os.Exit(1)
}
