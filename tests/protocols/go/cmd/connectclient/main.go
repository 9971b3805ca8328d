// Command connectclient checks Kiln with connect-go clients generated from
// Kiln's protos by protoc-gen-connect-go: the Connect protocol (binary and
// JSON codecs, over HTTP/1.1), gRPC (connect.WithGRPC, over h2c) and
// gRPC-Web (connect.WithGRPCWeb), the last two also with the JSON codec.
//
// Usage: connectclient KILN_URL FIXTURE_JSON
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"

	"kiln.test/protocols/gen/push/v1/pushv1connect"
	"kiln.test/protocols/gen/querier/v1/querierv1connect"
	"kiln.test/protocols/internal/check"
)

// call adapts a generated connect method to check.Client's plain shape.
func call[Req, Resp any](f func(context.Context, *connect.Request[Req]) (*connect.Response[Resp], error)) func(context.Context, *Req) (*Resp, error) {
	return func(ctx context.Context, req *Req) (*Resp, error) {
		resp, err := f(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	}
}

func client(httpClient *http.Client, url string, opts ...connect.ClientOption) check.Client {
	pusher := pushv1connect.NewPusherServiceClient(httpClient, url, opts...)
	querier := querierv1connect.NewQuerierServiceClient(httpClient, url, opts...)
	return check.Client{
		Push:                   call(pusher.Push),
		ProfileTypes:           call(querier.ProfileTypes),
		LabelNames:             call(querier.LabelNames),
		LabelValues:            call(querier.LabelValues),
		SelectSeries:           call(querier.SelectSeries),
		SelectMergeStacktraces: call(querier.SelectMergeStacktraces),
		SelectMergeProfile:     call(querier.SelectMergeProfile),
		Diff:                   call(querier.Diff),
		IsInvalidArgument: func(err error) bool {
			var ce *connect.Error
			return errors.As(err, &ce) && ce.Code() == connect.CodeInvalidArgument
		},
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: connectclient KILN_URL FIXTURE_JSON")
		os.Exit(2)
	}
	url := os.Args[1]
	fixture, err := check.LoadFixture(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	http1 := &http.Client{Timeout: 30 * time.Second}
	h2c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Protocols: new(http.Protocols)}}
	h2c.Transport.(*http.Transport).Protocols.SetUnencryptedHTTP2(true)

	runs := []struct {
		label  string
		client check.Client
	}{
		{"go-connect/connect-proto", client(http1, url)},
		{"go-connect/connect-json", client(http1, url, connect.WithProtoJSON())},
		{"go-connect/connect-gzip-h2c", client(h2c, url, connect.WithSendGzip())},
		{"go-connect/grpc", client(h2c, url, connect.WithGRPC())},
		{"go-connect/grpc-json-gzip", client(h2c, url, connect.WithGRPC(), connect.WithProtoJSON(), connect.WithSendGzip())},
		{"go-connect/grpc-web", client(http1, url, connect.WithGRPCWeb())},
		{"go-connect/grpc-web-json", client(http1, url, connect.WithGRPCWeb(), connect.WithProtoJSON())},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	passed := 0
	for _, run := range runs {
		n, err := check.Run(ctx, run.client, fixture, run.label)
		passed += n
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL", err)
			fmt.Printf("go connect-go %s: %d passed, 1 failed\n", connect.Version, passed)
			os.Exit(1)
		}
	}
	fmt.Printf("go connect-go %s: %d passed, 0 failed\n", connect.Version, passed)
}
