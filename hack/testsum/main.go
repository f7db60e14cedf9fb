// Command testsum reads `go test -json` on stdin, prints what `go test` would print
// (the output of failed tests and each package's result line; all of it with -v), and
// ends with a count of the tests that passed, were skipped and failed, naming the
// skipped and the failed, so that a skip is seen without -v. It exits 1 if a test or
// a package failed, a package did not build, or the input is not a test stream.
//
//	go test -json -count=1 ./... | go run ./hack/testsum
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

func main() {
	verbose := flag.Bool("v", false, "print every test's output, as go test -v does")
	flag.Parse()
	sum, err := summarize(os.Stdin, os.Stdout, *verbose)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(1)
	}
	sum.print(os.Stdout)
	if !sum.ok() {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (go doc test2json), and the build events
// `go test -json` adds: build-output and build-fail, named by ImportPath.
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string
}

// key names one test of one package.
type key struct{ pkg, test string }

// result is a finished test, in the order tests finished.
type result struct {
	key
	reason string // for a skip: the test's own words, the last line it logged
}

// summary is what the stream held.
type summary struct {
	passed, skipped, failed []result
	unfinished              []key    // started, never passed, skipped nor failed: a panic or timeout
	buildFailed             []string // packages whose test binary did not build
	pkgFailed               []string // packages that failed outside any test (TestMain, init, a timeout)
	events                  int
}

// ok reports whether nothing failed and there was a stream at all.
func (s *summary) ok() bool {
	return s.events > 0 && len(s.failed) == 0 && len(s.unfinished) == 0 && len(s.buildFailed) == 0 && len(s.pkgFailed) == 0
}

// summarize copies the human-readable output of the stream in to out and counts the
// results. A line that is not a JSON event (a message of the go command itself) is
// copied through as it is.
func summarize(in io.Reader, out io.Writer, verbose bool) (*summary, error) {
	s := &summary{}
	pending := map[key][]string{} // a running test's output, printed if it fails
	var order []key               // running tests, in start order
	testFailed := map[string]bool{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil || e.Action == "" {
			fmt.Fprintf(out, "%s\n", line)
			continue
		}
		s.events++
		k := key{e.Package, e.Test}
		switch {
		case e.Action == "build-output":
			fmt.Fprint(out, e.Output)
		case e.Action == "build-fail":
			pkg, _, _ := strings.Cut(e.ImportPath, " [") // "pkg [pkg.test]"
			s.buildFailed = append(s.buildFailed, pkg)
		case e.Test == "":
			switch e.Action {
			case "output":
				if verbose || (e.Output != "PASS\n" && !strings.HasPrefix(e.Output, "=== ")) {
					fmt.Fprint(out, e.Output)
				}
			case "fail":
				// Tests left running when the package ended: a panic or a timeout.
				for _, t := range order {
					if t.pkg == e.Package {
						s.unfinished = append(s.unfinished, t)
						testFailed[e.Package] = true
						if !verbose {
							fmt.Fprint(out, strings.Join(pending[t], ""))
						}
						delete(pending, t)
					}
				}
				order = without(order, e.Package)
				// A failed test already explains the package's failure; a failed build
				// is counted by its build-fail event.
				if !testFailed[e.Package] && !slices.Contains(s.buildFailed, e.Package) {
					s.pkgFailed = append(s.pkgFailed, e.Package)
				}
			case "pass", "skip":
				order = without(order, e.Package)
			}
		case e.Action == "run":
			if _, ok := pending[k]; !ok {
				order = append(order, k)
			}
			pending[k] = pending[k][:0:0]
		case e.Action == "output":
			if verbose {
				fmt.Fprint(out, e.Output)
			} else {
				pending[k] = append(pending[k], e.Output)
			}
		case e.Action == "pass":
			s.passed = append(s.passed, result{key: k})
			order = remove(order, k)
			delete(pending, k)
		case e.Action == "skip":
			s.skipped = append(s.skipped, result{key: k, reason: skipReason(pending[k])})
			order = remove(order, k)
			delete(pending, k)
		case e.Action == "fail":
			s.failed = append(s.failed, result{key: k})
			testFailed[e.Package] = true
			if !verbose {
				fmt.Fprint(out, strings.Join(pending[k], ""))
			}
			order = remove(order, k)
			delete(pending, k)
		}
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("reading the test stream: %w", err)
	}
	for _, t := range order { // the stream ended while these ran
		s.unfinished = append(s.unfinished, t)
		if !verbose {
			fmt.Fprint(out, strings.Join(pending[t], ""))
		}
	}
	return s, nil
}

// skipReason is the last line a skipped test logged, without its file:line prefix.
func skipReason(out []string) string {
	for i := len(out) - 1; i >= 0; i-- {
		l := strings.TrimSpace(out[i])
		if l == "" || strings.HasPrefix(l, "--- SKIP") || strings.HasPrefix(l, "=== ") {
			continue
		}
		if _, msg, ok := strings.Cut(l, ": "); ok && strings.Contains(l[:len(l)-len(msg)], ".go:") {
			return msg
		}
		return l
	}
	return ""
}

func remove(ks []key, k key) []key {
	for i, x := range ks {
		if x == k {
			return append(ks[:i:i], ks[i+1:]...)
		}
	}
	return ks
}

func without(ks []key, pkg string) []key {
	out := ks[:0:0]
	for _, k := range ks {
		if k.pkg != pkg {
			out = append(out, k)
		}
	}
	return out
}

// print writes the count, then the skipped and the failed by name.
func (s *summary) print(w io.Writer) {
	fmt.Fprintf(w, "\ntests: %d run: %d passed, %d skipped, %d failed\n",
		len(s.passed)+len(s.skipped)+len(s.failed)+len(s.unfinished),
		len(s.passed), len(s.skipped), len(s.failed)+len(s.unfinished))
	if s.events == 0 {
		fmt.Fprintln(w, "no test events on stdin: was it go test -json?")
	}
	for _, r := range s.skipped {
		if r.reason != "" {
			fmt.Fprintf(w, "  skipped  %s %s: %s\n", r.pkg, r.test, r.reason)
		} else {
			fmt.Fprintf(w, "  skipped  %s %s\n", r.pkg, r.test)
		}
	}
	for _, r := range s.failed {
		fmt.Fprintf(w, "  FAILED   %s %s\n", r.pkg, r.test)
	}
	for _, k := range s.unfinished {
		fmt.Fprintf(w, "  FAILED   %s %s (did not finish: panic or timeout)\n", k.pkg, k.test)
	}
	for _, p := range s.pkgFailed {
		fmt.Fprintf(w, "  FAILED   %s (outside any test)\n", p)
	}
	for _, p := range s.buildFailed {
		fmt.Fprintf(w, "  FAILED   %s (build failed)\n", p)
	}
}
