// Package check pushes the shared fixture (../fixture.json) to Kiln through
// any Go client and checks every querier RPC Grafana uses against the
// fixture's expected answers. The clients (connect-go, grpc-go) only supply
// a Client: the calls, built on code generated from Kiln's own protos.
package check

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	profilev1 "kiln.test/protocols/gen/google/v1"
	pushv1 "kiln.test/protocols/gen/push/v1"
	querierv1 "kiln.test/protocols/gen/querier/v1"
	typesv1 "kiln.test/protocols/gen/types/v1"
)

// Client is one protocol's way of making each call.
type Client struct {
	Push                   func(context.Context, *pushv1.PushRequest) (*pushv1.PushResponse, error)
	ProfileTypes           func(context.Context, *querierv1.ProfileTypesRequest) (*querierv1.ProfileTypesResponse, error)
	LabelNames             func(context.Context, *typesv1.LabelNamesRequest) (*typesv1.LabelNamesResponse, error)
	LabelValues            func(context.Context, *typesv1.LabelValuesRequest) (*typesv1.LabelValuesResponse, error)
	SelectSeries           func(context.Context, *querierv1.SelectSeriesRequest) (*querierv1.SelectSeriesResponse, error)
	SelectMergeStacktraces func(context.Context, *querierv1.SelectMergeStacktracesRequest) (*querierv1.SelectMergeStacktracesResponse, error)
	SelectMergeProfile     func(context.Context, *querierv1.SelectMergeProfileRequest) (*profilev1.Profile, error)
	Diff                   func(context.Context, *querierv1.DiffRequest) (*querierv1.DiffResponse, error)
	// IsInvalidArgument tells whether err carries the INVALID_ARGUMENT code.
	IsInvalidArgument func(error) bool
}

// Fixture mirrors ../fixture.json.
type Fixture struct {
	Profile struct {
		Name        string      `json:"name"`
		SampleTypes [][2]string `json:"sample_types"`
		PeriodType  [2]string   `json:"period_type"`
		Period      int64       `json:"period"`
		Variants    map[string][]struct {
			Stack  []string `json:"stack"`
			Values []int64  `json:"values"`
		} `json:"variants"`
	} `json:"profile"`
	Expected struct {
		ProfileTypes     []map[string]string `json:"profile_types"`
		QueryProfileType string              `json:"query_profile_type"`
		LabelNames       []string            `json:"label_names"`
		VariantValues    []string            `json:"variant_values"`
		SeriesByVariant  map[string]float64  `json:"series_by_variant"`
		Flamegraph       struct {
			Total   int64    `json:"total"`
			MaxSelf int64    `json:"max_self"`
			Nodes   []string `json:"nodes"`
		} `json:"flamegraph"`
		MergeProfile Summary `json:"merge_profile"`
		Diff         struct {
			LeftTicks  int64    `json:"left_ticks"`
			RightTicks int64    `json:"right_ticks"`
			Total      int64    `json:"total"`
			MaxSelf    int64    `json:"max_self"`
			Nodes      []string `json:"nodes"`
		} `json:"diff"`
	} `json:"expected"`
}

// LoadFixture reads fixture.json.
func LoadFixture(path string) (*Fixture, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f Fixture
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, nil
}

// BuildProfile encodes one variant of the fixture as a google.v1.Profile.
func (f *Fixture) BuildProfile(variant string, timeNanos int64) ([]byte, error) {
	spec := f.Profile
	table := []string{""}
	index := map[string]int64{"": 0}
	str := func(s string) int64 {
		if i, ok := index[s]; ok {
			return i
		}
		index[s] = int64(len(table))
		table = append(table, s)
		return index[s]
	}
	p := &profilev1.Profile{
		PeriodType:    &profilev1.ValueType{Type: str(spec.PeriodType[0]), Unit: str(spec.PeriodType[1])},
		Period:        spec.Period,
		TimeNanos:     timeNanos,
		DurationNanos: 10_000_000_000,
	}
	for _, st := range spec.SampleTypes {
		p.SampleType = append(p.SampleType, &profilev1.ValueType{Type: str(st[0]), Unit: str(st[1])})
	}
	functionIDs := map[string]uint64{}
	for _, sample := range spec.Variants[variant] {
		for _, name := range sample.Stack {
			if _, ok := functionIDs[name]; ok {
				continue
			}
			id := uint64(len(functionIDs) + 1)
			functionIDs[name] = id
			p.Function = append(p.Function, &profilev1.Function{Id: id, Name: str(name), SystemName: str(name)})
			p.Location = append(p.Location, &profilev1.Location{
				Id: id, Address: 0x1000 * id,
				Line: []*profilev1.Line{{FunctionId: id, Line: int64(id)}},
			})
		}
		s := &profilev1.Sample{Value: sample.Values}
		for i := len(sample.Stack) - 1; i >= 0; i-- { // pprof stacks are leaf first
			s.LocationId = append(s.LocationId, functionIDs[sample.Stack[i]])
		}
		p.Sample = append(p.Sample, s)
	}
	p.StringTable = table
	return proto.Marshal(p)
}

// Checks counts passed assertions; the first failure ends the run.
type Checks struct {
	Label  string
	Passed int
}

func (c *Checks) equal(what string, got, want any) error {
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("%s: %s: got %v, want %v", c.Label, what, got, want)
	}
	c.Passed++
	fmt.Printf("ok   %s %s\n", c.Label, what)
	return nil
}

// Run pushes the fixture as service `protocols-<label>` and checks every
// querier answer. label is e.g. "go-connect/grpc".
func Run(ctx context.Context, c Client, f *Fixture, label string) (int, error) {
	check := &Checks{Label: label}
	service := "protocols-" + strings.ReplaceAll(label, "/", "-")
	exp := f.Expected

	now := time.Now()
	push := &pushv1.PushRequest{}
	for _, variant := range []string{"before", "after"} {
		raw, err := f.BuildProfile(variant, now.UnixNano())
		if err != nil {
			return 0, err
		}
		push.Series = append(push.Series, &pushv1.RawProfileSeries{
			Labels: []*typesv1.LabelPair{
				{Name: "__name__", Value: f.Profile.Name},
				{Name: "service_name", Value: service},
				{Name: "variant", Value: variant},
			},
			Samples: []*pushv1.RawSample{{RawProfile: raw}},
		})
	}
	reply, err := c.Push(ctx, push)
	if err != nil {
		return 0, fmt.Errorf("%s: Push: %w", label, err)
	}
	if err := check.equal("Push reply", proto.Equal(reply, &pushv1.PushResponse{}), true); err != nil {
		return 0, err
	}

	start, end := now.UnixMilli()-3_600_000, now.UnixMilli()+60_000
	selector := fmt.Sprintf(`{service_name=%q}`, service)

	// Pushes are durable when acknowledged, but label reads may go through
	// caches: wait (bounded) until the service is listed.
	listed := false
	for deadline := time.Now().Add(15 * time.Second); !listed && time.Now().Before(deadline); {
		values, err := c.LabelValues(ctx, &typesv1.LabelValuesRequest{Name: "service_name", Start: start, End: end})
		if err != nil {
			return 0, fmt.Errorf("%s: LabelValues: %w", label, err)
		}
		if listed = slices.Contains(values.Names, service); !listed {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := check.equal("LabelValues(service_name) lists the service", listed, true); err != nil {
		return 0, err
	}

	types, err := c.ProfileTypes(ctx, &querierv1.ProfileTypesRequest{Start: start, End: end})
	if err != nil {
		return 0, fmt.Errorf("%s: ProfileTypes: %w", label, err)
	}
	gotTypes := []map[string]string{}
	for _, t := range types.ProfileTypes {
		gotTypes = append(gotTypes, map[string]string{
			"ID": t.ID, "name": t.Name, "sample_type": t.SampleType, "sample_unit": t.SampleUnit,
			"period_type": t.PeriodType, "period_unit": t.PeriodUnit,
		})
	}
	if err := check.equal("ProfileTypes", gotTypes, exp.ProfileTypes); err != nil {
		return 0, err
	}

	names, err := c.LabelNames(ctx, &typesv1.LabelNamesRequest{Matchers: []string{selector}, Start: start, End: end})
	if err != nil {
		return 0, fmt.Errorf("%s: LabelNames: %w", label, err)
	}
	if err := check.equal("LabelNames", names.Names, exp.LabelNames); err != nil {
		return 0, err
	}

	variants, err := c.LabelValues(ctx, &typesv1.LabelValuesRequest{Name: "variant", Matchers: []string{selector}, Start: start, End: end})
	if err != nil {
		return 0, fmt.Errorf("%s: LabelValues: %w", label, err)
	}
	if err := check.equal("LabelValues(variant)", variants.Names, exp.VariantValues); err != nil {
		return 0, err
	}

	series, err := c.SelectSeries(ctx, &querierv1.SelectSeriesRequest{
		ProfileTypeID: exp.QueryProfileType, LabelSelector: selector,
		Start: start, End: end, Step: 60, GroupBy: []string{"variant"},
	})
	if err != nil {
		return 0, fmt.Errorf("%s: SelectSeries: %w", label, err)
	}
	gotSeries := map[string][]float64{}
	for _, s := range series.Series {
		variant := "?"
		for _, l := range s.Labels {
			if l.Name == "variant" {
				variant = l.Value
			}
		}
		nonzero := []float64{}
		for _, p := range s.Points {
			if p.Value != 0 {
				nonzero = append(nonzero, p.Value)
			}
		}
		gotSeries[variant] = nonzero
	}
	wantSeries := map[string][]float64{}
	for k, v := range exp.SeriesByVariant {
		wantSeries[k] = []float64{v}
	}
	if err := check.equal("SelectSeries by variant", gotSeries, wantSeries); err != nil {
		return 0, err
	}

	merged, err := c.SelectMergeStacktraces(ctx, &querierv1.SelectMergeStacktracesRequest{
		ProfileTypeID: exp.QueryProfileType, LabelSelector: selector, Start: start, End: end,
	})
	if err != nil {
		return 0, fmt.Errorf("%s: SelectMergeStacktraces: %w", label, err)
	}
	fg := merged.Flamegraph
	nodes, err := DecodeLevels(fg.GetLevels(), fg.GetNames(), 4)
	if err != nil {
		return 0, fmt.Errorf("%s: SelectMergeStacktraces: %w", label, err)
	}
	for _, e := range []error{
		check.equal("SelectMergeStacktraces total", fg.GetTotal(), exp.Flamegraph.Total),
		check.equal("SelectMergeStacktraces max_self", fg.GetMaxSelf(), exp.Flamegraph.MaxSelf),
		check.equal("SelectMergeStacktraces nodes", nodes, exp.Flamegraph.Nodes),
	} {
		if e != nil {
			return 0, e
		}
	}

	pprof, err := c.SelectMergeProfile(ctx, &querierv1.SelectMergeProfileRequest{
		ProfileTypeID: exp.QueryProfileType, LabelSelector: selector, Start: start, End: end,
	})
	if err != nil {
		return 0, fmt.Errorf("%s: SelectMergeProfile: %w", label, err)
	}
	summary, err := Summarize(pprof)
	if err != nil {
		return 0, fmt.Errorf("%s: SelectMergeProfile: %w", label, err)
	}
	if err := check.equal("SelectMergeProfile pprof", summary, exp.MergeProfile); err != nil {
		return 0, err
	}

	side := func(variant string) *querierv1.SelectMergeStacktracesRequest {
		return &querierv1.SelectMergeStacktracesRequest{
			ProfileTypeID: exp.QueryProfileType,
			LabelSelector: fmt.Sprintf(`{service_name=%q,variant=%q}`, service, variant),
			Start:         start, End: end,
		}
	}
	diff, err := c.Diff(ctx, &querierv1.DiffRequest{Left: side("before"), Right: side("after")})
	if err != nil {
		return 0, fmt.Errorf("%s: Diff: %w", label, err)
	}
	d := diff.Flamegraph
	diffNodes, err := DecodeLevels(d.GetLevels(), d.GetNames(), 7)
	if err != nil {
		return 0, fmt.Errorf("%s: Diff: %w", label, err)
	}
	for _, e := range []error{
		check.equal("Diff leftTicks", d.GetLeftTicks(), exp.Diff.LeftTicks),
		check.equal("Diff rightTicks", d.GetRightTicks(), exp.Diff.RightTicks),
		check.equal("Diff total", d.GetTotal(), exp.Diff.Total),
		check.equal("Diff max_self", d.GetMaxSelf(), exp.Diff.MaxSelf),
		check.equal("Diff nodes", diffNodes, exp.Diff.Nodes),
	} {
		if e != nil {
			return 0, e
		}
	}

	// A wrong request must come back as a status the client understands.
	_, err = c.SelectMergeStacktraces(ctx, &querierv1.SelectMergeStacktracesRequest{
		ProfileTypeID: "not-a-type", LabelSelector: selector, Start: start, End: end,
	})
	if err := check.equal("bad profile type is INVALID_ARGUMENT", c.IsInvalidArgument(err), true); err != nil {
		return 0, err
	}
	return check.Passed, nil
}

// Summary is a pprof reduced to what the fixture states: type names and
// sorted "root;…;leaf value…" lines.
type Summary struct {
	SampleTypes [][2]string `json:"sample_types"`
	PeriodType  [2]string   `json:"period_type"`
	Samples     []string    `json:"samples"`
}

// Summarize resolves a profile's samples through locations, functions and
// the string table.
func Summarize(p *profilev1.Profile) (Summary, error) {
	str := func(i int64) (string, error) {
		if i < 0 || int(i) >= len(p.StringTable) {
			return "", fmt.Errorf("string index %d out of range", i)
		}
		return p.StringTable[i], nil
	}
	pair := func(t *profilev1.ValueType) ([2]string, error) {
		a, err := str(t.GetType())
		if err != nil {
			return [2]string{}, err
		}
		b, err := str(t.GetUnit())
		return [2]string{a, b}, err
	}
	var out Summary
	for _, t := range p.SampleType {
		st, err := pair(t)
		if err != nil {
			return out, err
		}
		out.SampleTypes = append(out.SampleTypes, st)
	}
	var err error
	if out.PeriodType, err = pair(p.PeriodType); err != nil {
		return out, err
	}
	names := map[uint64]string{}
	for _, f := range p.Function {
		if names[f.Id], err = str(f.Name); err != nil {
			return out, err
		}
	}
	frames := map[uint64]string{}
	for _, l := range p.Location {
		if len(l.Line) == 0 {
			return out, fmt.Errorf("location %d has no line", l.Id)
		}
		frames[l.Id] = names[l.Line[0].FunctionId]
	}
	out.Samples = []string{}
	for _, s := range p.Sample {
		var stack []string
		for i := len(s.LocationId) - 1; i >= 0; i-- {
			stack = append(stack, frames[s.LocationId[i]])
		}
		line := strings.Join(stack, ";")
		for _, v := range s.Value {
			line += " " + strconv.FormatInt(v, 10)
		}
		out.Samples = append(out.Samples, line)
	}
	slices.Sort(out.Samples)
	return out, nil
}

// DecodeLevels turns delta-encoded flame-graph levels of width-tuples (4 for
// a flame graph, 7 for a diff) into sorted "stack value…" lines, root
// excluded: "a;b total self" or "a;b ltotal lself rtotal rself".
func DecodeLevels(levels []*querierv1.Level, names []string, width int) ([]string, error) {
	offsetSlots := []int{0}
	valueSlots := []int{1, 2}
	if width == 7 {
		offsetSlots = []int{0, 3}
		valueSlots = []int{1, 2, 4, 5}
	}
	var out []string
	var parents []node
	for depth, level := range levels {
		v := level.GetValues()
		if len(v)%width != 0 {
			return nil, fmt.Errorf("level %d has %d values, not %d-tuples", depth, len(v), width)
		}
		prev := map[int]int64{}
		var nodes []node
		for i := 0; i < len(v); i += width {
			t := v[i : i+width]
			if int(t[width-1]) >= len(names) {
				return nil, fmt.Errorf("name index %d out of range", t[width-1])
			}
			n := node{start: map[int]int64{}, t: t, stack: names[t[width-1]]}
			for _, s := range offsetSlots {
				n.start[s] = prev[s] + t[s]
				prev[s] = n.start[s] + t[s+1]
			}
			if depth > 0 {
				parent, ok := findParent(parents, n.start, t, offsetSlots)
				if !ok {
					return nil, fmt.Errorf("level %d: no parent holds node %v", depth, t)
				}
				if parent.stack != "" {
					n.stack = parent.stack + ";" + n.stack
				}
				line := []string{n.stack}
				for _, s := range valueSlots {
					line = append(line, strconv.FormatInt(t[s], 10))
				}
				out = append(out, strings.Join(line, " "))
			} else {
				n.stack = ""
			}
			nodes = append(nodes, n)
		}
		parents = nodes
	}
	slices.Sort(out)
	return out, nil
}

// node is one decoded flame-graph box: absolute starts per offset slot.
type node struct {
	start map[int]int64
	t     []int64
	stack string
}

// findParent finds the box on the level above that holds n on a side where
// n is not empty.
func findParent(parents []node, start map[int]int64, t []int64, slots []int) (node, bool) {
	for _, s := range slots {
		if t[s+1] == 0 {
			continue
		}
		for _, p := range parents {
			if p.start[s] <= start[s] && start[s]+t[s+1] <= p.start[s]+p.t[s+1] {
				return p, true
			}
		}
	}
	return node{}, false
}
