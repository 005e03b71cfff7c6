// gelf-receiver is a tiny GELF-over-UDP sink for the local dev stack. Graylog cannot run
// here, so it checks what our winston-graylog2 logger emits with Graylog's own Go decoder
// (github.com/Graylog2/go-gelf): each datagram or chunk set it accepts (plain, gzip or zlib)
// becomes one JSON line in -out; datagrams it rejects are reported on stderr.
//
// Limits of that decoder: datagrams over 1420 bytes are truncated (our logger sends at most
// 1400), and chunked messages from concurrent senders must not interleave.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/Graylog2/go-gelf/gelf"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:12211", "UDP address to receive GELF on")
	out := flag.String("out", "", "file to append one JSON line per GELF message to (required)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gelf-receiver: -out is required")
		flag.Usage()
		os.Exit(2)
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gelf-receiver: cannot open -out: %v\n", err)
		os.Exit(1)
	}
	r, err := gelf.NewReader(*listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gelf-receiver: cannot listen on udp://%s: %v\n", *listen, err)
		os.Exit(1)
	}
	fmt.Printf("gelf-receiver listening on udp://%s\n", r.Addr())

	// mu keeps a signal from ending the process in the middle of writing a line.
	var mu sync.Mutex
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		mu.Lock()
		f.Close()
		os.Exit(0)
	}()

	enc := json.NewEncoder(f) // one Write per line: no buffering, so a tail sees it at once
	enc.SetEscapeHTML(false)
	for {
		msg, err := readMessage(r)
		if err != nil {
			if strings.HasPrefix(err.Error(), "Read: ") { // the socket itself failed
				fmt.Fprintf(os.Stderr, "gelf-receiver: %v\n", err)
				os.Exit(1)
			}
			fmt.Fprintf(os.Stderr, "gelf-receiver: rejected datagram: %v\n", err)
			continue
		}
		mu.Lock()
		err = enc.Encode(record(msg))
		mu.Unlock()
		if err != nil {
			fmt.Fprintf(os.Stderr, "gelf-receiver: cannot write -out: %v\n", err)
			os.Exit(1)
		}
	}
}

// readMessage turns a panic in the decoder (it indexes chunk headers unchecked) into an error.
func readMessage(r *gelf.Reader) (msg *gelf.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed GELF: %v", p)
		}
	}()
	return r.ReadMessage()
}

// record is the message as Graylog stores it: standard fields and `_` extras side by side.
// The standard fields are always present; the decoder cannot tell absent from zero/empty.
func record(m *gelf.Message) map[string]any {
	rec := make(map[string]any, len(m.Extra)+7)
	for k, v := range m.Extra {
		rec[k] = v
	}
	rec["version"], rec["host"], rec["timestamp"] = m.Version, m.Host, m.TimeUnix
	rec["short_message"], rec["full_message"] = m.Short, m.Full
	rec["level"], rec["facility"] = m.Level, m.Facility
	return rec
}
