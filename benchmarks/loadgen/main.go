// A gRPC load client for throughput.py (--client go): grpc-go with a pass-through codec, so
// the request is the pre-serialized message throughput.py wrote and no .proto code is built.
// Built offline in GOPATH mode against Debian's golang-google-grpc-dev.
//
// Usage: loadgen -addr HOST:PORT -method /pkg.Service/Method -kind unary|server|bidi
//
//	-request FILE  the request message (serialized, no gRPC frame prefix)
//	-n N           calls (streams) in all
//	-c C -m M      C connections, M calls in flight on each
//	-count K       bidi: messages per stream, each sent after the previous echo arrived
//	-window W      fixed HTTP/2 stream and connection windows, 1 GiB by default as h2load's;
//	               0 keeps grpc-go's dynamic windows, whose BDP pings cost a grpc.aio
//	               server ~1.5x the CPU per 100-message stream (benchmarks/README.md)
//
// Prints one JSON line: calls, failed, seconds, rate (calls/s) and data, the gRPC-framed
// bytes of every reply message (5 + length each), as h2load's DATA count.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
)

// raw passes messages through as bytes: the replies are only counted, never decoded.
type raw struct{}

func (raw) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (raw) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = data
	return nil
}
func (raw) Name() string { return "proto" } // content-type application/grpc+proto, as usual

type result struct {
	Calls   int64   `json:"calls"`
	Failed  int64   `json:"failed"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"`
	Data    int64   `json:"data"`
	Error   string  `json:"error,omitempty"`
}

var (
	addr    = flag.String("addr", "", "server HOST:PORT")
	method  = flag.String("method", "", "full method, /pkg.Service/Method")
	kind    = flag.String("kind", "unary", "unary, server or bidi")
	reqFile = flag.String("request", "", "serialized request message")
	total   = flag.Int64("n", 1000, "calls in all")
	conns   = flag.Int("c", 4, "connections")
	streams = flag.Int("m", 16, "calls in flight per connection")
	count   = flag.Int("count", 100, "bidi: messages per stream")
	window  = flag.Int("window", 1<<30, "fixed HTTP/2 windows (h2load's default); 0: grpc-go's BDP")
)

func call(ctx context.Context, cc *grpc.ClientConn, request []byte) (int64, error) {
	opt := grpc.ForceCodec(raw{})
	switch *kind {
	case "unary":
		var reply []byte
		if err := cc.Invoke(ctx, *method, &request, &reply, opt); err != nil {
			return 0, err
		}
		return int64(5 + len(reply)), nil
	case "server", "bidi":
		desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: *kind == "bidi"}
		stream, err := cc.NewStream(ctx, desc, *method, opt)
		if err != nil {
			return 0, err
		}
		var data int64
		if *kind == "bidi" { // ping-pong: each message waits for the echo of the previous
			for i := 0; i < *count; i++ {
				if err := stream.SendMsg(&request); err != nil {
					return data, err
				}
				var reply []byte
				if err := stream.RecvMsg(&reply); err != nil {
					return data, err
				}
				data += int64(5 + len(reply))
			}
			if err := stream.CloseSend(); err != nil {
				return data, err
			}
		} else {
			if err := stream.SendMsg(&request); err != nil {
				return data, err
			}
			if err := stream.CloseSend(); err != nil {
				return data, err
			}
		}
		for {
			var reply []byte
			err := stream.RecvMsg(&reply)
			if err == io.EOF {
				return data, nil
			}
			if err != nil {
				return data, err
			}
			data += int64(5 + len(reply))
		}
	}
	return 0, fmt.Errorf("unknown -kind %q", *kind)
}

func main() {
	flag.Parse()
	out := json.NewEncoder(os.Stdout)
	request, err := ioutil.ReadFile(*reqFile)
	if err != nil {
		_ = out.Encode(result{Error: err.Error()})
		os.Exit(1)
	}
	clients := make([]*grpc.ClientConn, *conns)
	for i := range clients {
		// WithBlock: connect before the clock starts
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// Debian's grpc-go predates credentials/insecure
		opts := []grpc.DialOption{grpc.WithInsecure(), grpc.WithBlock()}
		if *window > 0 {
			opts = append(opts, grpc.WithInitialWindowSize(int32(*window)),
				grpc.WithInitialConnWindowSize(int32(*window)))
		}
		cc, err := grpc.DialContext(ctx, *addr, opts...)
		cancel()
		if err != nil {
			_ = out.Encode(result{Error: err.Error()})
			os.Exit(1)
		}
		clients[i] = cc
	}
	var next, failed, data int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for _, cc := range clients {
		for j := 0; j < *streams; j++ {
			wg.Add(1)
			go func(cc *grpc.ClientConn) {
				defer wg.Done()
				for atomic.AddInt64(&next, 1) <= *total {
					n, err := call(context.Background(), cc, request)
					atomic.AddInt64(&data, n)
					if err != nil {
						atomic.AddInt64(&failed, 1)
						firstErr.CompareAndSwap(nil, err.Error())
					}
				}
			}(cc)
		}
	}
	wg.Wait()
	seconds := time.Since(start).Seconds()
	r := result{Calls: *total, Failed: failed, Seconds: seconds, Rate: float64(*total) / seconds, Data: data}
	if e, ok := firstErr.Load().(string); ok {
		r.Error = e
	}
	_ = out.Encode(r)
}
