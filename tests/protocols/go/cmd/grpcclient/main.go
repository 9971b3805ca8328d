// Command grpcclient checks Kiln with grpc-go clients generated from Kiln's
// protos by protoc-gen-go-grpc, over h2c with insecure credentials, plain
// and with gzip compression.
//
// Usage: grpcclient KILN_URL FIXTURE_JSON
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"

	pushv1 "kiln.test/protocols/gen/push/v1"
	querierv1 "kiln.test/protocols/gen/querier/v1"
	"kiln.test/protocols/internal/check"
)

// call adapts a generated grpc-go method to check.Client's plain shape.
func call[Req, Resp any](f func(context.Context, *Req, ...grpc.CallOption) (*Resp, error), opts ...grpc.CallOption) func(context.Context, *Req) (*Resp, error) {
	return func(ctx context.Context, req *Req) (*Resp, error) {
		return f(ctx, req, opts...)
	}
}

func client(conn *grpc.ClientConn, opts ...grpc.CallOption) check.Client {
	pusher := pushv1.NewPusherServiceClient(conn)
	querier := querierv1.NewQuerierServiceClient(conn)
	return check.Client{
		Push:                   call(pusher.Push, opts...),
		ProfileTypes:           call(querier.ProfileTypes, opts...),
		LabelNames:             call(querier.LabelNames, opts...),
		LabelValues:            call(querier.LabelValues, opts...),
		SelectSeries:           call(querier.SelectSeries, opts...),
		SelectMergeStacktraces: call(querier.SelectMergeStacktraces, opts...),
		SelectMergeProfile:     call(querier.SelectMergeProfile, opts...),
		Diff:                   call(querier.Diff, opts...),
		IsInvalidArgument: func(err error) bool {
			return status.Code(err) == codes.InvalidArgument
		},
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: grpcclient KILN_URL FIXTURE_JSON")
		os.Exit(2)
	}
	target, err := url.Parse(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixture, err := check.LoadFixture(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	conn, err := grpc.NewClient(target.Host, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()

	runs := []struct {
		label  string
		client check.Client
	}{
		{"go-grpc/grpc", client(conn)},
		{"go-grpc/grpc-gzip", client(conn, grpc.UseCompressor(gzip.Name))},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	passed := 0
	for _, run := range runs {
		n, err := check.Run(ctx, run.client, fixture, run.label)
		passed += n
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL", err)
			fmt.Printf("go grpc-go %s: %d passed, 1 failed\n", grpc.Version, passed)
			os.Exit(1)
		}
	}
	fmt.Printf("go grpc-go %s: %d passed, 0 failed\n", grpc.Version, passed)
}
