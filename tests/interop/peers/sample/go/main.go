// Go peer client for test_peers_selfcheck.py, built by peers.build_go_client
// (protoc-gen-go + protoc-gen-go-grpc from Debian, GOPATH mode, offline).
// Usage: peer-client HOST:PORT ITEM_ID ; prints 4 JSON lines.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	samplev1 "gen.local/demo/sample/v1"
)

func out(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
}

func typed(it *samplev1.Item) map[string]interface{} {
	return map[string]interface{}{
		"id":         strconv.FormatInt(it.GetId(), 10),
		"name":       it.GetName(),
		"tags":       it.GetTags(),
		"color":      it.GetColor().String(),
		"created_at": it.GetCreatedAt().AsTime().UTC().Format(time.RFC3339Nano),
		"attributes": it.GetAttributes().AsMap(),
		"ttl":        it.GetTtl().AsDuration().String(),
	}
}

func main() {
	id, _ := strconv.ParseInt(os.Args[2], 10, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, os.Args[1], grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	defer conn.Close()
	c := samplev1.NewSampleServiceClient(conn)

	it, err := c.GetItem(ctx, &samplev1.GetItemRequest{Id: id})
	if err != nil {
		fmt.Fprintln(os.Stderr, "GetItem:", err)
		os.Exit(1)
	}
	out(typed(it))

	stream, err := c.ListItems(ctx, &samplev1.ListItemsRequest{Count: 2, Color: samplev1.Color_COLOR_GREEN})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ListItems:", err)
		os.Exit(1)
	}
	var ids []string
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ListItems recv:", err)
			os.Exit(1)
		}
		ids = append(ids, strconv.FormatInt(m.GetId(), 10)+":"+m.GetColor().String())
	}
	out(ids)

	p, err := c.Ping(ctx, &emptypb.Empty{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "Ping:", err)
		os.Exit(1)
	}
	out(p.GetMessage())

	_, err = c.GetItem(ctx, &samplev1.GetItemRequest{Id: 404})
	st := status.Convert(err)
	out(map[string]interface{}{"code": int(st.Code()), "details": st.Message()})
}
