// Go peer client for test_go.py: calls demo.library.v1.LibraryService on a Cello server
// through code generated from the emitted .proto (protoc-gen-go + protoc-gen-go-grpc,
// built by peers.build_go_client in GOPATH mode, offline).
//
// Usage: peer-client HOST:PORT COMMAND [ARGS...]
//
//	getbook ISBN          one JSON line: the Book, read through its typed getters
//	listbooks GENRE       one JSON line per streamed Book (GENRE: GENRE_FICTION, ...)
//	returnbooks MEMBER... client stream of Loans (alternating copy oneof); one JSON line
//	chat MEMBER...        bidi stream of Loans; one JSON line per reply
//
// A gRPC error prints {"code": N, "details": "..."} on stdout and exits 1, plus
// "bad_request": [{"field", "description"}...] when the status carries a BadRequest detail.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	libraryv1 "gen.local/demo/library/v1"
)

var when = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func out(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
}

func check(err error) {
	if err == nil {
		return
	}
	st := status.Convert(err)
	result := map[string]interface{}{"code": int(st.Code()), "details": st.Message()}
	// rich error details (google.rpc.Status in grpc-status-details-bin), when sent
	var violations []map[string]string
	for _, detail := range st.Details() {
		if bad, ok := detail.(*errdetails.BadRequest); ok {
			for _, v := range bad.GetFieldViolations() {
				violations = append(violations, map[string]string{
					"field": v.GetField(), "description": v.GetDescription(),
				})
			}
		}
	}
	if violations != nil {
		result["bad_request"] = violations
	}
	out(result)
	os.Exit(1)
}

func book(b *libraryv1.Book) map[string]interface{} {
	var authors []map[string]interface{}
	for _, a := range b.GetAuthors() {
		authors = append(authors, map[string]interface{}{
			"name": a.GetName(),
			"born": a.GetBorn().AsTime().Format(time.RFC3339),
		})
	}
	var pages int32 = b.GetPages() // compile-time proof that the field is an int32
	return map[string]interface{}{
		"isbn":         b.GetIsbn(),
		"title":        b.GetTitle(),
		"authors":      authors,
		"genre":        b.GetGenre().String(),
		"genre_number": int32(b.GetGenre()),
		"pages":        pages,
		"tags":         b.GetTags(),
		"has_subtitle": b.Subtitle != nil, // proto3 optional: a pointer in Go
		"rating":       b.GetRating(),
		"loan_period":  b.GetLoanPeriod().AsDuration().String(),
		"has_sequel":   b.GetSequel() != nil,
	}
}

func loan(member string, i int) *libraryv1.Loan {
	l := &libraryv1.Loan{Isbn: "978-0", Member: member, When: timestamppb.New(when)}
	if i%2 == 0 {
		l.Copy = &libraryv1.Loan_CopyEbook{CopyEbook: &libraryv1.Ebook{Url: "https://x/" + member, SizeBytes: 1 << 40}}
	} else {
		l.Copy = &libraryv1.Loan_CopyPaper{CopyPaper: &libraryv1.Paper{Shelf: "B" + member}}
	}
	return l
}

func loanJSON(l *libraryv1.Loan) map[string]interface{} {
	m := map[string]interface{}{
		"isbn":   l.GetIsbn(),
		"member": l.GetMember(),
		"when":   l.GetWhen().AsTime().Format(time.RFC3339),
	}
	switch c := l.GetCopy().(type) {
	case *libraryv1.Loan_CopyEbook:
		m["copy_ebook"] = map[string]interface{}{"url": c.CopyEbook.GetUrl(), "size_bytes": c.CopyEbook.GetSizeBytes()}
	case *libraryv1.Loan_CopyPaper:
		m["copy_paper"] = map[string]interface{}{"shelf": c.CopyPaper.GetShelf()}
	}
	return m
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: peer-client HOST:PORT COMMAND [ARGS...]")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, os.Args[1], grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	defer conn.Close()
	c := libraryv1.NewLibraryServiceClient(conn)
	args := os.Args[3:]

	switch os.Args[2] {
	case "getbook":
		b, err := c.GetBook(ctx, &libraryv1.GetBookRequest{Isbn: args[0]})
		check(err)
		out(book(b))
	case "listbooks":
		genre, ok := libraryv1.Genre_value[args[0]]
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown genre", args[0])
			os.Exit(2)
		}
		stream, err := c.ListBooks(ctx, &libraryv1.ListBooksRequest{Genre: libraryv1.Genre(genre)})
		check(err)
		for {
			b, err := stream.Recv()
			if err == io.EOF {
				break
			}
			check(err)
			out(book(b))
		}
	case "returnbooks":
		stream, err := c.ReturnBooks(ctx)
		check(err)
		for i, member := range args {
			check(stream.Send(loan(member, i)))
		}
		summary, err := stream.CloseAndRecv()
		check(err)
		var count int64 = summary.GetCount()
		out(map[string]interface{}{"count": count, "members": summary.GetMembers()})
	case "chat":
		stream, err := c.Chat(ctx)
		check(err)
		for i, member := range args {
			check(stream.Send(loan(member, i)))
		}
		check(stream.CloseSend())
		for {
			l, err := stream.Recv()
			if err == io.EOF {
				break
			}
			check(err)
			out(loanJSON(l))
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[2])
		os.Exit(2)
	}
}
