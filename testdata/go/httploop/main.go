// httploop: an HTTP server and its clients on 127.0.0.1 and [::1] in one
// process, a UDP exchange, and the loopback interface as net.Interfaces
// sees it. It prints only deterministic text (never ports or times).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

func check(what string, err error) {
	if err != nil {
		fmt.Printf("FAIL %s: %v\n", what, err)
		os.Exit(1)
	}
}

func serve(network, addr string) (*http.Server, string) {
	ln, err := net.Listen(network, addr)
	check("listen "+addr, err)
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("name"))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("X-Len", fmt.Sprint(len(b)))
		w.Write(bytes.ToUpper(b))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		for i := 0; i < 64; i++ {
			w.Write(chunk)
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String()
}

func get(c *http.Client, url string) (int, []byte) {
	resp, err := c.Get(url)
	check("GET "+url, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	check("read "+url, err)
	return resp.StatusCode, b
}

func main() {
	srv, base := serve("tcp", "127.0.0.1:0")
	c := &http.Client{Timeout: 20 * time.Second}
	code, body := get(c, base+"/hello?name=sandbox")
	fmt.Printf("GET /hello: %d %q\n", code, body)
	code, _ = get(c, base+"/missing")
	fmt.Printf("GET /missing: %d\n", code)
	resp, err := c.Post(base+"/echo", "text/plain", strings.NewReader(strings.Repeat("abc", 10000)))
	check("POST", err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("POST /echo: %d X-Len %s body %d bytes, upper %v\n", resp.StatusCode,
		resp.Header.Get("X-Len"), len(b), string(b[:6]) == "ABCABC")
	code, body = get(c, base+"/big")
	fmt.Printf("GET /big: %d %d bytes sha256 %x\n", code, len(body), sha256.Sum256(body))

	// Many clients at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	results := map[string]int{}
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cl := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}
			code, body := get(cl, fmt.Sprintf("%s/hello?name=c%d", base, i%4))
			mu.Lock()
			results[fmt.Sprintf("%d %s", code, body)]++
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	keys := []string{}
	for k := range results {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("concurrent: %s x%d\n", k, results[k])
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	check("shutdown", srv.Shutdown(ctx))
	cancel()
	_, err = c.Get(base + "/hello")
	fmt.Printf("after shutdown: refused %v\n", err != nil && strings.Contains(err.Error(), "connection refused"))

	// IPv6 loopback.
	srv6, base6 := serve("tcp", "[::1]:0")
	code, body = get(c, base6+"/hello?name=six")
	fmt.Printf("GET [::1]/hello: %d %q\n", code, body)
	srv6.Close()

	// UDP.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	check("udp listen", err)
	conn, err := net.Dial("udp", pc.LocalAddr().String())
	check("udp dial", err)
	for _, m := range []string{"one", "two", "three"} {
		_, err = conn.Write([]byte(m))
		check("udp write", err)
	}
	buf := make([]byte, 100)
	for i := 0; i < 3; i++ {
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, from, err := pc.ReadFrom(buf)
		check("udp read", err)
		fmt.Printf("udp: %q from the dialer %v\n", buf[:n], from.String() == conn.LocalAddr().String())
		pc.WriteTo(bytes.ToUpper(buf[:n]), from)
	}
	for i := 0; i < 3; i++ {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		check("udp reply", err)
		fmt.Printf("udp reply: %q\n", buf[:n])
	}
	pc.Close()
	conn.Close()

	// A read deadline on TCP with no data: the poller's timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check("listen", err)
	// The peer writes only once the reader has seen its timeout, so the
	// outcome does not depend on how fast a loaded machine runs the test.
	timedOut := make(chan struct{})
	go func() {
		s, err := ln.Accept()
		if err == nil {
			<-timedOut
			s.Write([]byte("late"))
			s.Close()
		}
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	check("dial", err)
	start := time.Now()
	d.SetReadDeadline(start.Add(50 * time.Millisecond))
	_, err = d.Read(buf)
	waited := time.Since(start)
	close(timedOut)
	fmt.Printf("read deadline: timeout %v, not early %v\n", err != nil && err.(net.Error).Timeout(), waited >= 50*time.Millisecond)
	d.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.ReadFull(d, buf[:4])
	fmt.Printf("then: %q %v\n", buf[:n], err)
	n, err = d.Read(buf)
	fmt.Printf("then EOF: %d %v\n", n, err)
	d.Close()
	ln.Close()

	// The loopback interface.
	ifs, err := net.Interfaces()
	check("interfaces", err)
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		check("addrs", err)
		as := []string{}
		for _, a := range addrs {
			as = append(as, a.String())
		}
		sort.Strings(as)
		fmt.Printf("interface %s index %d mtu %d flags %v addrs %v\n", ifc.Name, ifc.Index, ifc.MTU, ifc.Flags, as)
	}
	lo, err := net.InterfaceByName("lo")
	check("InterfaceByName", err)
	fmt.Printf("InterfaceByName(lo): index %d\n", lo.Index)
	fmt.Println("done")
}
