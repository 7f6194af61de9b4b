// pingpong: 1000 goroutine pairs, each pair passing a value back and
// forth over unbuffered channels 200 times (issue 11's Go program: the
// scheduler reads the clocks at every switch, so without a vDSO nearly all
// of its time in the sandbox was clock_gettime crossings). With the
// argument "time" it also prints how long it took (benches/RESULTS.md);
// without, its output is deterministic (sentry/tests/golang.rs).
package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

func main() {
	start := time.Now()
	const pairs = 1000
	const rounds = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for g := 0; g < pairs; g++ {
		wg.Add(1)
		ping, pong := make(chan int), make(chan int)
		go func() {
			for v := range ping {
				pong <- v + 1
			}
			close(pong)
		}()
		go func() {
			defer wg.Done()
			sum := 0
			for i := 0; i < rounds; i++ {
				ping <- i
				sum += <-pong
			}
			close(ping)
			mu.Lock()
			total += sum
			mu.Unlock()
		}()
	}
	wg.Wait()
	fmt.Printf("%d goroutine pairs x %d round trips, checksum %d\n", pairs, rounds, total)
	if len(os.Args) > 1 && os.Args[1] == "time" {
		fmt.Printf("took %v\n", time.Since(start).Round(time.Millisecond))
	}
}
