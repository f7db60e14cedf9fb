package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The recorded streams in testdata are real `go test -json` output (go 1.26) of a small
// module: tests that pass, skip and fail (with subtests), a package that does not build,
// a package without tests, and a test killed by -timeout.
func TestSummarize(t *testing.T) {
	tests := []struct {
		file                    string
		passed, skipped, failed int
		ok                      bool
		printed, notPrinted     []string
		summaryHas              []string
	}{
		{
			file: "fail-skip-build.jsonl", passed: 2, skipped: 1, failed: 2,
			printed: []string{
				"broken/broken_test.go:5:37: undefined: undefinedCall\n", // the compiler's words
				"    good_test.go:11: want 2, got 3\n",                   // a failed test's log
				"FAIL\texample.com/rec/good\t0.005s\n",
			},
			notPrinted: []string{"good_test.go:5: fine", "--- PASS", "needs a cluster\n"},
			summaryHas: []string{
				"tests: 5 run: 2 passed, 1 skipped, 2 failed\n",
				"  skipped  example.com/rec/good TestSkips: needs a cluster\n",
				"  FAILED   example.com/rec/good TestFails/sub_bad\n",
				"  FAILED   example.com/rec/broken (build failed)\n",
			},
		},
		{
			file: "pass-skip.jsonl", passed: 1, skipped: 1, ok: true,
			printed:    []string{"?   \texample.com/rec/notests\t[no test files]\n", "ok  \texample.com/rec/ok\t0.006s\n"},
			notPrinted: []string{"=== RUN", "PASS\n"},
			summaryHas: []string{
				"tests: 2 run: 1 passed, 1 skipped, 0 failed\n",
				"  skipped  example.com/rec/ok TestTwo: skipped under load: 3\n",
			},
		},
		{
			file: "timeout.jsonl", failed: 1,
			printed:    []string{"panic: test timed out after 1s\n"},
			summaryHas: []string{"tests: 1 run: 0 passed, 0 skipped, 1 failed\n", "TestHangs (did not finish: panic or timeout)\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			in, err := os.Open(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			var out bytes.Buffer
			s, err := summarize(in, &out, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.passed) != tc.passed || len(s.skipped) != tc.skipped || len(s.failed)+len(s.unfinished) != tc.failed {
				t.Errorf("passed %d skipped %d failed %d, want %d %d %d",
					len(s.passed), len(s.skipped), len(s.failed)+len(s.unfinished), tc.passed, tc.skipped, tc.failed)
			}
			if s.ok() != tc.ok {
				t.Errorf("ok() = %v, want %v", s.ok(), tc.ok)
			}
			for _, p := range tc.printed {
				if !strings.Contains(out.String(), p) {
					t.Errorf("output lacks %q:\n%s", p, out.String())
				}
			}
			for _, p := range tc.notPrinted {
				if strings.Contains(out.String(), p) {
					t.Errorf("output has %q, which go test without -v does not print:\n%s", p, out.String())
				}
			}
			var sum bytes.Buffer
			s.print(&sum)
			for _, p := range tc.summaryHas {
				if !strings.Contains(sum.String(), p) {
					t.Errorf("summary lacks %q:\n%s", p, sum.String())
				}
			}
		})
	}
}

// With -v every line of output passes through, in stream order.
func TestVerbosePassesEverything(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "pass-skip.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := summarize(bytes.NewReader(raw), &out, true); err != nil {
		t.Fatal(err)
	}
	want := "?   \texample.com/rec/notests\t[no test files]\n=== RUN   TestOne\n--- PASS: TestOne (0.00s)\n" +
		"=== RUN   TestTwo\n    ok_test.go:7: skipped under load: 3\n--- SKIP: TestTwo (0.00s)\nPASS\nok  \texample.com/rec/ok\t0.006s\n"
	if out.String() != want {
		t.Fatalf("output\n%q\nwant\n%q", out.String(), want)
	}
}

// Lines that are not events (the go command's own messages) pass through; a stream
// without any event is not a success.
func TestNotAStream(t *testing.T) {
	var out bytes.Buffer
	s, err := summarize(strings.NewReader("go: no Go files in /x\n{not json\n"), &out, false)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "go: no Go files in /x\n{not json\n" {
		t.Errorf("output %q", out.String())
	}
	if s.ok() {
		t.Error("an input without test events counted as a success")
	}
	var sum bytes.Buffer
	s.print(&sum)
	if !strings.Contains(sum.String(), "no test events") {
		t.Errorf("summary %q does not say the input held no events", sum.String())
	}
}

// A stream cut off while a test runs (go test killed) counts that test as failed.
func TestStreamCutOff(t *testing.T) {
	in := `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
`
	s, err := summarize(strings.NewReader(in), &bytes.Buffer{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if s.ok() || !slices.Equal(s.unfinished, []key{{"p", "TestA"}}) {
		t.Fatalf("unfinished %v, ok %v", s.unfinished, s.ok())
	}
}
