// Command wordsort is compiled and linked by the Go toolchain running
// inside the sandbox (sentry/tests/golang.rs), then run there: it sorts the
// words of its arguments and prints them with their count.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	w := strings.Fields(strings.Join(os.Args[1:], " "))
	sort.Strings(w)
	fmt.Println(strings.Join(w, ","), len(w))
}
