# jq helpers of run.sh: build the fixture's pprof as protojson, decode flame
# graphs. Stacks in fixture.json are root first.

# Appends the items of $xs not yet in the array, keeping first-seen order.
def add_new($xs): reduce $xs[] as $x (.; if any(.[]; . == $x) then . else . + [$x] end);

# The fixture's `profile` (input) variant $v as google.v1.Profile protojson.
def profile($v; $now_ns):
  . as $p
  | $p.variants[$v] as $samples
  | ([] | add_new([$samples[].stack[]])) as $fns
  | ([""] | add_new([$p.sample_types[][], $p.period_type[], $fns[]])) as $table
  | def ix($s): $table | index($s);
    {
      sampleType: [$p.sample_types[] | {type: ix(.[0]), unit: ix(.[1])}],
      periodType: {type: ix($p.period_type[0]), unit: ix($p.period_type[1])},
      period: $p.period,
      timeNanos: $now_ns,
      durationNanos: 10000000000,
      function: [$fns | to_entries[] | {id: (.key + 1), name: ix(.value), systemName: ix(.value)}],
      location: [$fns | to_entries[] | (.key + 1) as $id
                 | {id: $id, address: (4096 * $id), line: [{functionId: $id, line: $id}]}],
      # pprof stacks are leaf first.
      sample: [$samples[] | {locationId: [.stack | reverse[] as $f | ($fns | index($f)) + 1], value: .values}],
      stringTable: $table
    };

# Decodes a FlameGraph (4-tuples, $w = 4) or FlameGraphDiff (7-tuples,
# $w = 7) into sorted "stack value…" lines, root excluded. x offsets are
# delta-encoded per level (two offsets, at 0 and 3, in a diff).
def decode($w):
  .names as $names
  | (if $w == 4 then [0] else [0, 3] end) as $os
  | (if $w == 4 then [1, 2] else [1, 2, 4, 5] end) as $vs
  | reduce (.levels | to_entries[]) as $e ({parents: [], out: []};
      ($e.value.values // [] | map(tonumber)) as $v
      | .parents as $parents
      | (reduce ([range(0; $v | length; $w) as $i | $v[$i:$i + $w]][]) as $t ({prev: [], nodes: []};
          [range(0; $os | length) as $k | (.prev[$k] // 0) + $t[$os[$k]]] as $start
          | .prev = [range(0; $os | length) as $k | $start[$k] + $t[$os[$k] + 1]]
          | (if $e.key == 0 then ""
             else
               ([$parents[] | select(. as $p | any(range(0; $os | length);
                   . as $k | $t[$os[$k] + 1] != 0
                   and $p.start[$k] <= $start[$k]
                   and $start[$k] + $t[$os[$k] + 1] <= $p.start[$k] + $p.t[$os[$k] + 1]))][0]
                // error("level \($e.key): no parent holds \($t)"))
               | [.stack, $names[$t[$w - 1]]] | map(select(. != "")) | join(";")
             end) as $stack
          | .nodes += [{start: $start, t: $t, stack: $stack}]
        )) as $level
      | .parents = $level.nodes
      | if $e.key > 0 then .out += [$level.nodes[] | [.stack, (.t[$vs[]] | tostring)] | join(" ")] else . end)
  | .out | sort;

# A google.v1.Profile (protojson) as {sample_types, period_type, samples:
# sorted "root;…;leaf value"}, resolving locations → functions → strings.
def summarize:
  .stringTable as $s
  | def str: $s[(. // "0") | tonumber];
    def pair: [(.type | str), (.unit | str)];
    (reduce (.function // [])[] as $f ({}; .[$f.id] = ($f.name | str))) as $names
  | (reduce (.location // [])[] as $l ({}; .[$l.id] = $names[$l.line[0].functionId])) as $frames
  | {
      sample_types: [(.sampleType // [])[] | pair],
      period_type: (.periodType // {} | pair),
      samples: [(.sample // [])[] | ([.locationId | reverse[] | $frames[.]] | join(";")) + " " + (.value | join(" "))] | sort
    };
