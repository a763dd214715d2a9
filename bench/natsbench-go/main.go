// natsbench-go: a small JetStream/core publish and consume benchmark built on
// the reference Go client (nats.go 1.22, Debian package), used as an anchor
// for comparing other client implementations on the same machine.
// Prints exactly one JSON line on stdout per run; diagnostics go to stderr.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

type result struct {
	Mode     string  `json:"mode"`
	Msgs     int     `json:"msgs"`
	Size     int     `json:"size"`
	Seconds  float64 `json:"seconds"`
	MsgsPerS float64 `json:"msgs_per_s"`
	MBPerS   float64 `json:"mb_per_s"`
	Window   int     `json:"window,omitempty"`
	Errors   int64   `json:"errors,omitempty"`
	Stalls   int64   `json:"stalls,omitempty"`
}

func die(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "natsbench-go: "+f+"\n", a...)
	os.Exit(1)
}

func main() {
	url := flag.String("url", nats.DefaultURL, "server URL")
	stream := flag.String("stream", "BENCH", "stream name")
	subject := flag.String("subject", "bench.data", "subject (core-pub default: bench.core, outside the stream)")
	msgs := flag.Int("msgs", 100000, "number of messages")
	size := flag.Int("size", 128, "payload size in bytes")
	mode := flag.String("mode", "pub-async", "pub-async | pub-sync | core-pub | consume | pub-ledger | count")
	window := flag.Int("window", 4000, "max outstanding async acks (js.PublishAsyncMaxPending)")
	batch := flag.Int("batch", 500, "consume: Fetch batch size")
	storage := flag.String("storage", "file", "stream storage when created: file | memory")
	purge := flag.Bool("purge", false, "pub modes: purge the stream before publishing")
	duration := flag.Duration("duration", 20*time.Second, "pub-ledger: how long to publish")
	creds := flag.String("creds", "", "credentials file (optional)")
	user := flag.String("user", "", "user (optional)")
	pass := flag.String("pass", "", "password (optional; NATSBENCH_PASSWORD in the environment keeps it off the command line)")
	inbox := flag.String("inbox", "", "custom inbox prefix for replies, e.g. _INBOX_app (optional)")
	ca := flag.String("ca", "", "CA certificate file that signs the server's TLS certificate (optional)")
	durableName := flag.String("durable", "", "consume: durable consumer name (default natsbench_<nuid>); it is in every ack subject")
	flag.Parse()
	if *pass == "" {
		*pass = os.Getenv("NATSBENCH_PASSWORD")
	}
	subjSet := false
	flag.Visit(func(f *flag.Flag) { subjSet = subjSet || f.Name == "subject" })
	if *mode == "core-pub" && !subjSet {
		*subject = "bench.core" // a subject captured by a stream would turn this into a JS publish
	}

	opts := []nats.Option{nats.Name("natsbench-go"), nats.ReconnectBufSize(-1),
		nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond)}
	if *creds != "" {
		opts = append(opts, nats.UserCredentials(*creds))
	}
	if *user != "" {
		opts = append(opts, nats.UserInfo(*user, *pass))
	}
	if *inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(*inbox))
	}
	if *ca != "" {
		opts = append(opts, nats.RootCAs(*ca))
	}
	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		die("connect: %v", err)
	}
	defer nc.Close()

	payload := make([]byte, *size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	res := result{Mode: *mode, Msgs: *msgs, Size: *size}
	var errs, stalls int64

	var js nats.JetStreamContext
	if *mode != "core-pub" {
		js, err = nc.JetStream(nats.PublishAsyncMaxPending(*window),
			nats.PublishAsyncErrHandler(func(_ nats.JetStream, _ *nats.Msg, e error) {
				if atomic.AddInt64(&errs, 1) == 1 {
					fmt.Fprintf(os.Stderr, "natsbench-go: async ack error: %v\n", e)
				}
			}))
		if err != nil {
			die("jetstream: %v", err)
		}
	}
	if strings.HasPrefix(*mode, "pub-") {
		st := nats.FileStorage
		if *storage == "memory" {
			st = nats.MemoryStorage
		}
		if _, err := js.StreamInfo(*stream); err == nats.ErrStreamNotFound {
			_, err = js.AddStream(&nats.StreamConfig{Name: *stream, Subjects: []string{*subject},
				Storage: st, Replicas: 1})
			if err != nil {
				die("add stream: %v", err)
			}
		} else if err != nil {
			die("stream info: %v", err)
		} else if *purge {
			if err := js.PurgeStream(*stream); err != nil {
				die("purge: %v", err)
			}
		}
	}

	var start time.Time
	switch *mode {
	case "pub-async":
		res.Window = *window
		start = time.Now()
		for i := 0; i < *msgs; i++ {
			for {
				_, err := js.PublishAsync(*subject, payload)
				if err == nil {
					break
				}
				if strings.Contains(err.Error(), "stalled") {
					stalls++ // window full for >200ms; retry like a patient producer
					continue
				}
				die("publish async: %v", err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(60 * time.Second):
			die("timed out waiting for %d async acks", js.PublishAsyncPending())
		}
	case "pub-sync":
		start = time.Now()
		for i := 0; i < *msgs; i++ {
			if _, err := js.Publish(*subject, payload); err != nil {
				die("publish: %v", err)
			}
		}
	case "pub-ledger":
		// Publish one message at a time with a message id, retrying the same id until it is
		// acknowledged (the stream's duplicate window drops a retry whose first try was stored).
		// Prints how many were acknowledged: after the run the stream must hold exactly that many.
		start = time.Now()
		acked, retries, maxStall := 0, 0, 0.0
		for time.Since(start) < *duration {
			t0 := time.Now()
			for {
				_, err := js.Publish(*subject, payload, nats.MsgId(fmt.Sprintf("ledger-%d", acked)), nats.AckWait(2*time.Second))
				if err == nil {
					break
				}
				retries++
				time.Sleep(50 * time.Millisecond)
			}
			if st := time.Since(t0).Seconds(); st > maxStall {
				maxStall = st
			}
			acked++
		}
		fmt.Printf("{\"mode\":\"pub-ledger\",\"acked\":%d,\"retries\":%d,\"max_stall_s\":%.3f}\n", acked, retries, maxStall)
		return
	case "count":
		info, err := js.StreamInfo(*stream)
		if err != nil {
			die("stream info: %v", err)
		}
		fmt.Printf("{\"mode\":\"count\",\"msgs\":%d}\n", info.State.Msgs)
		return
	case "core-pub":
		start = time.Now()
		for i := 0; i < *msgs; i++ {
			if err := nc.Publish(*subject, payload); err != nil {
				die("publish: %v", err)
			}
		}
		if err := nc.FlushTimeout(60 * time.Second); err != nil {
			die("flush: %v", err)
		}
	case "consume":
		durable := *durableName
		if durable == "" {
			durable = "natsbench_" + nuid.Next()
		}
		sub, err := js.PullSubscribe(*subject, durable, nats.BindStream(*stream),
			nats.DeliverAll(), nats.AckExplicit())
		if err != nil {
			die("pull subscribe: %v", err)
		}
		defer js.DeleteConsumer(*stream, durable)
		got := 0
		start = time.Now()
		for got < *msgs {
			n := *batch
			if left := *msgs - got; left < n {
				n = left
			}
			ms, err := sub.Fetch(n, nats.MaxWait(5*time.Second))
			if err != nil && len(ms) == 0 {
				die("fetch after %d msgs: %v (stream has fewer than -msgs?)", got, err)
			}
			for _, m := range ms {
				if len(m.Data) != *size {
					errs++
				}
				if err := m.Ack(); err != nil {
					die("ack: %v", err)
				}
			}
			got += len(ms)
		}
		if err := nc.Flush(); err != nil { // make sure the last acks reached the server
			die("flush: %v", err)
		}
	default:
		die("unknown -mode %q", *mode)
	}
	el := time.Since(start).Seconds()
	res.Seconds = el
	res.MsgsPerS = float64(*msgs) / el
	res.MBPerS = float64(*msgs) * float64(*size) / el / 1e6
	res.Errors = atomic.LoadInt64(&errs)
	res.Stalls = stalls
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if res.Errors > 0 {
		os.Exit(2)
	}
}
