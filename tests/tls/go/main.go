// Go peer client for tests/tls/test_peers_tls.py: calls tlstest.v1.VaultService on a Cello
// server over TLS (and mTLS), through code generated from the emitted .proto.
//
// Usage: peer-client HOST:PORT CA_FILE [CERT_FILE KEY_FILE]
//
// Prints one JSON line: {"echo": ..., "who": {...}, "counter": [...]}.
// A gRPC error prints {"code": N, "details": "..."} and exits 1.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"io/ioutil"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	tlstestv1 "gen.local/tlstest/v1"
)

func check(err error) {
	if err == nil {
		return
	}
	st := status.Convert(err)
	b, _ := json.Marshal(map[string]interface{}{"code": int(st.Code()), "details": st.Message()})
	fmt.Println(string(b))
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 && len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: peer-client HOST:PORT CA_FILE [CERT_FILE KEY_FILE]")
		os.Exit(2)
	}
	pem, err := ioutil.ReadFile(os.Args[2])
	if err != nil {
		panic(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		panic("no CA certificate in " + os.Args[2])
	}
	config := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	if len(os.Args) == 5 {
		pair, err := tls.LoadX509KeyPair(os.Args[3], os.Args[4])
		if err != nil {
			panic(err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, os.Args[1], grpc.WithTransportCredentials(credentials.NewTLS(config)))
	check(err)
	defer conn.Close()
	client := tlstestv1.NewVaultServiceClient(conn)

	echo, err := client.Echo(ctx, &tlstestv1.EchoRequest{Text: "from go"})
	check(err)
	who, err := client.Whoami(ctx, &tlstestv1.Nothing{})
	check(err)
	stream, err := client.Counter(ctx, &tlstestv1.Count{Upto: 3})
	check(err)
	counter := []int64{}
	for {
		item, err := stream.Recv()
		if err == io.EOF {
			break
		}
		check(err)
		counter = append(counter, item.GetValue())
	}
	b, _ := json.Marshal(map[string]interface{}{
		"echo":    echo.GetValue(),
		"who":     map[string]interface{}{"common_name": who.GetCommonName(), "uris": who.GetUris(), "verified": who.GetVerified()},
		"counter": counter,
	})
	fmt.Println(string(b))
}
