// A loopback HTTP(S) load generator for the admission bench. Go rather than Node so the client
// costs a fraction of a core and the server under test, not the client, is what saturates.
//
// Two modes:
//   - closed: -conns keep-alive connections, each sending the next request when the last one
//     answered; measures saturation throughput.
//   - open: requests are due at a fixed -rate whatever the server does; each latency is measured
//     from when the request was due, not from when a connection was free to send it, so a slow
//     answer counts for every request that waited behind it (no coordinated omission).
//
// Bounded twice: -duration and -max requests, whichever comes first. Prints one JSON object.
package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Mode      string  `json:"mode"`
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"seconds"`
	RPS       float64 `json:"rps"`
	P50Ms     float64 `json:"p50Ms"`
	P90Ms     float64 `json:"p90Ms"`
	P99Ms     float64 `json:"p99Ms"`
	MaxMs     float64 `json:"maxMs"`
	FirstErr  string  `json:"firstError,omitempty"`
	BodySHA   string  `json:"responseSha256"`
	BodyBytes int     `json:"responseBytes"`
	Rate      float64 `json:"targetRate,omitempty"`
	// Answered during the warm-up: with Requests, what the server's CPU time was spent on.
	WarmupRequests int `json:"warmupRequests"`
	// Open mode: requests still unsent when the run's time was up. Each counts in the percentiles
	// with how long it had waited by then, a lower bound, so a server that falls behind is not
	// flattered by the requests it never got to.
	Late int `json:"late"`
}

type client struct {
	http    *http.Client
	url     string
	body    []byte
	errors  atomic.Int64
	errOnce sync.Once
	err     string
	first   sync.Once
	sha     string
	size    int
}

func (c *client) do() bool {
	req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(c.body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		c.fail(err.Error())
		return false
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		c.fail(err.Error())
		return false
	}
	if res.StatusCode != http.StatusOK {
		c.fail(fmt.Sprintf("status %d: %.200s", res.StatusCode, data))
		return false
	}
	c.first.Do(func() {
		sum := sha256.Sum256(data)
		c.sha = hex.EncodeToString(sum[:])
		c.size = len(data)
	})
	return true
}

func (c *client) fail(message string) {
	c.errors.Add(1)
	c.errOnce.Do(func() { c.err = message })
}

func percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)))
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return float64(sorted[i].Microseconds()) / 1000
}

func main() {
	url := flag.String("url", "", "target URL (http:// or https://)")
	caFile := flag.String("ca", "", "PEM CA for https")
	bodyFile := flag.String("body", "", "request body file")
	mode := flag.String("mode", "closed", "closed or open")
	conns := flag.Int("conns", 8, "connections (closed: concurrent requests; open: most in flight)")
	duration := flag.Duration("duration", 5*time.Second, "measured duration")
	warmup := flag.Duration("warmup", time.Second, "unmeasured closed-loop warm-up before measuring")
	max := flag.Int("max", 200000, "most measured requests")
	rate := flag.Float64("rate", 0, "open mode: requests per second")
	flag.Parse()

	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: -body:", err)
		os.Exit(2)
	}
	tlsConfig := &tls.Config{NextProtos: []string{"http/1.1"}}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: -ca:", err)
			os.Exit(2)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tlsConfig.RootCAs = pool
	}
	transport := &http.Transport{
		TLSClientConfig:     tlsConfig,
		MaxIdleConnsPerHost: *conns,
		MaxConnsPerHost:     *conns,
		DisableCompression:  true,
	}
	c := &client{http: &http.Client{Transport: transport, Timeout: 30 * time.Second}, url: *url, body: body}

	var warmupAnswered atomic.Int64
	runClosed := func(until time.Time, limit int, record bool) ([]time.Duration, time.Duration) {
		var issued atomic.Int64
		lat := make([][]time.Duration, *conns)
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < *conns; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for time.Now().Before(until) && issued.Add(1) <= int64(limit) {
					t := time.Now()
					ok := c.do()
					if ok && record {
						lat[w] = append(lat[w], time.Since(t))
					} else if ok {
						warmupAnswered.Add(1)
					}
				}
			}(w)
		}
		wg.Wait()
		elapsed := time.Since(start)
		var all []time.Duration
		for _, l := range lat {
			all = append(all, l...)
		}
		return all, elapsed
	}

	if *warmup > 0 {
		runClosed(time.Now().Add(*warmup), *max, false)
		c.errors.Store(0)
	}

	var latencies []time.Duration
	var elapsed time.Duration
	lateCount := 0
	switch *mode {
	case "closed":
		latencies, elapsed = runClosed(time.Now().Add(*duration), *max, true)
	case "open":
		if *rate <= 0 {
			fmt.Fprintln(os.Stderr, "loadgen: -rate must be above 0 in open mode")
			os.Exit(2)
		}
		total := int(*rate * duration.Seconds())
		if total > *max {
			total = *max
		}
		interval := time.Duration(float64(time.Second) / *rate)
		due := make(chan time.Time, total)
		lat := make([][]time.Duration, *conns)
		var wg sync.WaitGroup
		var late atomic.Int64
		start := time.Now()
		// The run ends a second after the last request was due, however far behind the server is.
		cutoff := start.Add(*duration + time.Second)
		for w := 0; w < *conns; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for at := range due {
					if wait := time.Until(at); wait > 0 {
						time.Sleep(wait)
					}
					if time.Now().After(cutoff) {
						late.Add(1)
						lat[w] = append(lat[w], time.Since(at))
						continue
					}
					if c.do() {
						lat[w] = append(lat[w], time.Since(at))
					}
				}
			}(w)
		}
		// The schedule is fixed up front: request i is due at start + i*interval.
		for i := 0; i < total; i++ {
			due <- start.Add(time.Duration(i) * interval)
		}
		close(due)
		wg.Wait()
		elapsed = time.Since(start)
		lateCount = int(late.Load())
		for _, l := range lat {
			latencies = append(latencies, l...)
		}
	default:
		fmt.Fprintln(os.Stderr, "loadgen: -mode must be closed or open")
		os.Exit(2)
	}

	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	r := result{
		Mode:           *mode,
		Requests:       len(latencies) - lateCount,
		Errors:         int(c.errors.Load()),
		Seconds:        elapsed.Seconds(),
		RPS:            float64(len(latencies)-lateCount) / elapsed.Seconds(),
		P50Ms:          percentile(latencies, 0.5),
		P90Ms:          percentile(latencies, 0.9),
		P99Ms:          percentile(latencies, 0.99),
		MaxMs:          percentile(latencies, 1),
		FirstErr:       c.err,
		BodySHA:        c.sha,
		BodyBytes:      c.size,
		Rate:           *rate,
		WarmupRequests: int(warmupAnswered.Load()),
		Late:           lateCount,
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}
