package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/nodeclient"
)

// The Grafana dashboards and the alert rules (the sources under config/ and the chart's
// copies) query only metric families the poet exports. The exported names come from a
// running poet: its /metrics scraped through a round (registration, execution, proof),
// so every family it registers has series by the end.
func TestDashboardsAndAlertsQueryExportedMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a poet for a round")
	}
	queries := monitoringQueries(t)
	exported := scrapeThroughARound(t)
	t.Logf("checking %d queries of the dashboards and rules", len(queries))
	for _, q := range queries {
		names, err := promqlMetricNames(q.expr)
		if err != nil {
			t.Errorf("%s: %q: %v", q.source, q.expr, err)
			continue
		}
		if len(names) == 0 && !q.template {
			t.Errorf("%s: %q: no metric name found", q.source, q.expr)
		}
		for _, n := range names {
			if !exported.has(n) {
				t.Errorf("%s: %q queries %s, which the poet does not export", q.source, q.expr, n)
			}
		}
	}
}

// query is one PromQL expression and the file (and place) it comes from.
type query struct {
	source, expr string
	// template is a Grafana template-variable query, which may name no metric.
	template bool
}

// repoRoot is the repository root, three levels above this package.
const repoRoot = "../../.."

// monitoringQueries reads every PromQL expression of the dashboards and alert rules.
func monitoringQueries(t *testing.T) []query {
	t.Helper()
	var qs []query
	var dashboards []string
	for _, pattern := range []string{"config/grafana/*.json", "charts/poet-operator/files/*.json"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, pattern))
		if err != nil {
			t.Fatal(err)
		}
		dashboards = append(dashboards, m...)
	}
	if len(dashboards) < 2 {
		t.Fatalf("dashboards found: %v; want the source under config/grafana and the chart's copy", dashboards)
	}
	for _, path := range dashboards {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		found, err := dashboardQueries(raw)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(found) == 0 {
			t.Fatalf("%s: no queries found", path)
		}
		for i := range found {
			found[i].source = relPath(path) + " " + found[i].source
		}
		qs = append(qs, found...)
	}
	for _, r := range []struct {
		path string
		// groupsUnderSpec: a PrometheusRule (groups under spec) or a bare rules file.
		groupsUnderSpec bool
	}{
		{"config/prometheus/poet_rules.yaml", true},
		{"charts/poet-operator/files/prometheusrule-spec.yaml", false},
	} {
		raw, err := os.ReadFile(filepath.Join(repoRoot, r.path))
		if err != nil {
			t.Fatal(err)
		}
		found, err := ruleQueries(raw, r.groupsUnderSpec)
		if err != nil {
			t.Fatalf("%s: %v", r.path, err)
		}
		if len(found) == 0 {
			t.Fatalf("%s: no rules found", r.path)
		}
		for i := range found {
			found[i].source = r.path + " " + found[i].source
		}
		qs = append(qs, found...)
	}
	return qs
}

func relPath(path string) string {
	rel, err := filepath.Rel(repoRoot, path)
	if err != nil {
		return path
	}
	return rel
}

// dashboardQueries returns the expr of every panel target (rows' panels included) and
// the query of every templating variable of type query.
func dashboardQueries(raw []byte) ([]query, error) {
	type target struct {
		Expr string `json:"expr"`
	}
	type panel struct {
		Title   string   `json:"title"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("decoding the dashboard: %w", err)
	}
	var qs []query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if tg.Expr != "" {
					qs = append(qs, query{source: fmt.Sprintf("panel %q", p.Title), expr: tg.Expr})
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		// The query is a string, or an object with a query field (newer Grafana).
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				return nil, fmt.Errorf("variable %s: query is neither a string nor an object: %s", v.Name, v.Query)
			}
			q = obj.Query
		}
		expr, err := templateExpr(q)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		qs = append(qs, query{source: "variable " + v.Name, expr: expr, template: true})
	}
	return qs, nil
}

// templateExpr is the PromQL inside a Grafana Prometheus variable query:
// label_values(selector, label), label_values(label), query_result(expr) or a bare
// expression.
func templateExpr(q string) (string, error) {
	q = strings.TrimSpace(q)
	for _, fn := range []string{"label_values", "query_result"} {
		rest, ok := strings.CutPrefix(q, fn+"(")
		if !ok {
			continue
		}
		inner, ok := strings.CutSuffix(rest, ")")
		if !ok {
			return "", fmt.Errorf("%s without its closing parenthesis: %q", fn, q)
		}
		if fn == "query_result" {
			return inner, nil
		}
		i := strings.LastIndexByte(inner, ',')
		if i < 0 {
			return "", nil // label_values(label): no metric
		}
		return strings.TrimSpace(inner[:i]), nil
	}
	return q, nil
}

// ruleQueries returns the expr of every rule, keyed by alert or record name.
func ruleQueries(raw []byte, groupsUnderSpec bool) ([]query, error) {
	type rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert  string `json:"alert"`
				Record string `json:"record"`
				Expr   string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	var r rules
	if groupsUnderSpec {
		var pr struct {
			Spec rules `json:"spec"`
		}
		if err := yaml.Unmarshal(raw, &pr); err != nil {
			return nil, err
		}
		r = pr.Spec
	} else if err := yaml.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	var qs []query
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			qs = append(qs, query{source: "rule " + rule.Alert + rule.Record, expr: rule.Expr})
		}
	}
	return qs, nil
}

// exportedFamilies maps each exported metric family to its type (counter, gauge,
// histogram, summary, untyped).
type exportedFamilies map[string]string

// has reports whether a name queried in PromQL is a series of an exported family: the
// family itself, or a histogram's _bucket, _sum or _count, or a summary's _sum or _count.
func (e exportedFamilies) has(name string) bool {
	if _, ok := e[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch e[base] {
		case "histogram":
			return true
		case "summary":
			return suffix != "_bucket"
		}
	}
	return false
}

var typeLine = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$`)

// scrapeThroughARound runs a poet through round 0 and returns every family its /metrics
// showed: before the round (after a registration, a REST and a refused request), while
// the round executes (its leaves and checkpoints), and once the proof is out.
func scrapeThroughARound(t *testing.T) exportedFamilies {
	t.Helper()
	p := newPoet(t, 0)
	p.start()
	n := p.node()
	seen := exportedFamilies{}
	scrape := func() {
		t.Helper()
		resp, err := http.Get("http://" + p.ops + "/metrics")
		if err != nil {
			t.Fatalf("scraping /metrics: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("scraping /metrics: %s", resp.Status)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if m := typeLine.FindStringSubmatch(sc.Text()); m != nil {
				seen[m[1]] = m[2]
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("reading /metrics: %v", err)
		}
	}
	ctx := context.Background()
	info(t, n)
	resp, err := n.SubmitPoW(ctx, nodeclient.NewIdentity(), far())
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if err := n.Do(ctx, http.MethodPost, "/v1/submit", &apiv1.SubmitRequest{}, nil); nodeclient.Code(err) < 400 || nodeclient.Code(err) > 499 {
		t.Fatalf("an empty submit: %v, want a client error", err)
	}
	scrape()
	// Scrape while round 0 executes, until its proof is out.
	end := time.Now().Add(resp.RoundEnd.AsDuration())
	for proofOut := false; !proofOut; {
		scrape()
		if time.Now().After(end) {
			var pr apiv1.ProofResponse
			err := n.Do(ctx, http.MethodGet, "/v1/proofs/"+resp.RoundId, nil, &pr)
			switch nodeclient.Code(err) {
			case http.StatusOK:
				proofOut = true
			case http.StatusNotFound:
				if time.Since(end) > 30*time.Second {
					t.Fatalf("no proof of round %s 30 s after its end:\n%s", resp.RoundId, p.log)
				}
			default:
				t.Fatalf("proof of round %s: %v", resp.RoundId, err)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	scrape()
	p.stop()
	if len(seen) == 0 {
		t.Fatal("/metrics showed no families")
	}
	names := slices.Sorted(maps.Keys(seen))
	t.Logf("the poet exported %d families: %s", len(names), strings.Join(names, " "))
	return seen
}

// promqlKeywords are the identifiers of PromQL that are neither metric names nor
// followed by a parenthesis as functions and aggregations are.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"atan2": true, "inf": true, "nan": true, "Inf": true, "NaN": true,
}

// labelListKeywords are followed by a parenthesised list of label names.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// promqlMetricNames returns the metric names a PromQL expression selects: identifiers
// that are not functions, aggregations, keywords, label names or literals, and
// __name__="..." matchers. Grafana variables ($pod, ${pod}, [$__rate_interval]) are
// skipped.
func promqlMetricNames(expr string) ([]string, error) {
	if err := checkBrackets(expr); err != nil {
		return nil, err
	}
	var names []string
	s := expr
	i := 0
	skipSpace := func(j int) int {
		for j < len(s) && strings.ContainsRune(" \t\r\n", rune(s[j])) {
			j++
		}
		return j
	}
	// closing finds the index of the bracket closing the one at j, skipping strings.
	closing := func(j int, open, close byte) (int, error) {
		depth := 0
		for k := j; k < len(s); k++ {
			switch c := s[k]; {
			case c == '"' || c == '\'' || c == '`':
				end, err := stringEnd(s, k)
				if err != nil {
					return 0, err
				}
				k = end
			case c == open:
				depth++
			case c == close:
				depth--
				if depth == 0 {
					return k, nil
				}
			}
		}
		return 0, fmt.Errorf("unbalanced %c at offset %d", open, j)
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, err := stringEnd(s, i)
			if err != nil {
				return nil, err
			}
			i = end + 1
		case c == '{':
			end, err := closing(i, '{', '}')
			if err != nil {
				return nil, err
			}
			if m := nameMatcher.FindStringSubmatch(s[i+1 : end]); m != nil {
				names = append(names, m[1])
			}
			i = end + 1
		case c == '[':
			end, err := closing(i, '[', ']')
			if err != nil {
				return nil, err
			}
			i = end + 1
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				end, err := closing(i, '{', '}')
				if err != nil {
					return nil, err
				}
				i = end + 1
				continue
			}
			for i < len(s) && isIdentChar(s[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			// A number or a duration: 0.8, 1e3, 5m, 1h30m.
			for i < len(s) && (isIdentChar(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			word := s[i:j]
			next := skipSpace(j)
			switch {
			case labelListKeywords[word]:
				if next < len(s) && s[next] == '(' {
					end, err := closing(next, '(', ')')
					if err != nil {
						return nil, err
					}
					j = end + 1
				}
			case promqlKeywords[word]:
			case next < len(s) && s[next] == '(':
				// a function call
			case next < len(s) && (labelListKeywords[nextWord(s, next)]):
				// an aggregation with its grouping first: sum by (pod) (...)
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// checkBrackets reports unbalanced (), [] and {} outside string literals.
func checkBrackets(s string) error {
	var stack []byte
	pairs := map[byte]byte{')': '(', ']': '[', '}': '{'}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\'', '`':
			end, err := stringEnd(s, i)
			if err != nil {
				return err
			}
			i = end
		case '(', '[', '{':
			stack = append(stack, c)
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return fmt.Errorf("unbalanced %c at offset %d", c, i)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return fmt.Errorf("unclosed %c", stack[len(stack)-1])
	}
	return nil
}

var nameMatcher = regexp.MustCompile(`(?:^|,)\s*__name__\s*=\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"`)

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// nextWord is the identifier starting at j, or "".
func nextWord(s string, j int) string {
	k := j
	for k < len(s) && isIdentChar(s[k]) {
		k++
	}
	return s[j:k]
}

// stringEnd is the index of the quote closing the string literal that opens at i.
func stringEnd(s string, i int) (int, error) {
	q := s[i]
	for k := i + 1; k < len(s); k++ {
		switch {
		case s[k] == '\\' && q != '`':
			k++
		case s[k] == q:
			return k, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at offset %d", i)
}

// The extractor against the PromQL shapes the dashboards and rules use, and the ones
// they could: it must find every metric name and nothing else.
func TestPromQLMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`poet_round_leaves_per_second{pod=~"$pod"}`, []string{"poet_round_leaves_per_second"}},
		{`sum by (pod) (rate(poet_registration_with_pow_total{pod=~"$pod",result="valid"}[5m]) + rate(poet_registration_with_cert_total{pod=~"$pod",result="valid"}[5m]))`,
			[]string{"poet_registration_with_cert_total", "poet_registration_with_pow_total"}},
		{`histogram_quantile(0.99, sum by (pod, le) (rate(poet_http_request_duration_seconds_bucket{pod=~"$pod"}[$__rate_interval])))`,
			[]string{"poet_http_request_duration_seconds_bucket"}},
		{`poet_round_executing == 1 and poet_round_leaves_per_second < 0.8 * avg_over_time(poet_round_leaves_per_second[6h] offset 10m)`,
			[]string{"poet_round_executing", "poet_round_leaves_per_second"}},
		{`time() - poet_round_end_timestamp_seconds > 300 and (poet_last_proof_round < poet_open_round - 1 or (poet_open_round unless poet_last_proof_round))`,
			[]string{"poet_last_proof_round", "poet_open_round", "poet_round_end_timestamp_seconds"}},
		{`sum(rate(a_total{code=~"5..", x="{not a brace}"}[5m])) by (namespace) / on (namespace) group_left(pod) b > bool 0`,
			[]string{"a_total", "b"}},
		{`{__name__="by_name", job="x"} or max without (le) (c_sum) or ${pod}`, []string{"by_name", "c_sum"}},
		{`count(e[1h:5m]) > 1e3 or f @ start()`, []string{"e", "f"}},
	} {
		got, err := promqlMetricNames(c.expr)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: got %v, want %v", c.expr, got, c.want)
		}
	}
	for _, bad := range []string{`rate(x[5m]`, `x{a="b}`, `sum by (pod (x)`} {
		if _, err := promqlMetricNames(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// Histogram and summary series map to their family; other suffixes do not.
func TestExportedFamiliesHas(t *testing.T) {
	e := exportedFamilies{"h_seconds": "histogram", "s_seconds": "summary", "c_total": "counter", "g": "gauge"}
	for name, want := range map[string]bool{
		"h_seconds": true, "h_seconds_bucket": true, "h_seconds_sum": true, "h_seconds_count": true,
		"s_seconds_sum": true, "s_seconds_count": true, "s_seconds_bucket": false,
		"c_total": true, "c_total_count": false, "g": true, "g_sum": false, "missing": false,
	} {
		if got := e.has(name); got != want {
			t.Errorf("has(%q) = %v, want %v", name, got, want)
		}
	}
}
