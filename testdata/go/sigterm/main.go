// sigterm: a Go program that takes SIGTERM and SIGUSR1 with
// signal.Notify, for sentry/tests/hostsig.rs (signals sent to the sentry
// process must reach it). It prints "ready" when it listens, one line per
// signal, and exits 5 after SIGTERM.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 4)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGUSR1)
	fmt.Println("ready")
	for s := range c {
		fmt.Println("got", s)
		if s == syscall.SIGTERM {
			fmt.Println("exiting")
			os.Exit(5)
		}
		fmt.Println("ready")
	}
}
