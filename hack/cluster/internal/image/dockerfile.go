// Package image builds OCI images as tarballs without a container engine, from the same
// facts the Dockerfile states, so the two cannot drift.
package image

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Registry is where the project's images are published; an image's repository is the
// registry and its title label.
const Registry = "ghcr.io/poet-operator"

// Dockerfile is what the image builder reads of a Dockerfile: its global ARG defaults and,
// per named stage, the instructions that shape the image's configuration.
type Dockerfile struct {
	Args   map[string]string
	Stages map[string]*Stage
}

// Stage is one `FROM ... AS name` stage.
type Stage struct {
	Name       string
	Args       map[string]string
	Labels     map[string]string // values unexpanded
	User       string
	Entrypoint []string
	Expose     []string
	Copies     []Copy // COPY --from=... only
}

// Copy is `COPY --from=stage src... dst`.
type Copy struct {
	From string
	Srcs []string
	Dst  string
}

// ParseDockerfile reads the instructions the builder needs. It understands line
// continuations, comments, quoted LABEL values and the JSON form of ENTRYPOINT.
func ParseDockerfile(path string) (*Dockerfile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	df := &Dockerfile{Args: map[string]string{}, Stages: map[string]*Stage{}}
	var cur *Stage
	var logical strings.Builder
	sc := bufio.NewScanner(f)
	lineNo := 0
	flush := func() error {
		line := strings.TrimSpace(logical.String())
		logical.Reset()
		if line == "" {
			return nil
		}
		return df.instruction(&cur, line)
	}
	for sc.Scan() {
		lineNo++
		l := sc.Text()
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasSuffix(t, "\\") {
			logical.WriteString(strings.TrimSuffix(t, "\\") + " ")
			continue
		}
		logical.WriteString(t)
		if err := flush(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, lineNo, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return df, flush()
}

var kvRe = regexp.MustCompile(`([A-Za-z0-9_.\-]+)=("(?:[^"\\]|\\.)*"|\S+)`)

func (df *Dockerfile) instruction(cur **Stage, line string) error {
	op, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToUpper(op) {
	case "FROM":
		f := strings.Fields(rest)
		s := &Stage{Args: map[string]string{}, Labels: map[string]string{}}
		if len(f) == 3 && strings.EqualFold(f[1], "AS") {
			s.Name = f[2]
			df.Stages[s.Name] = s
		}
		*cur = s
	case "ARG":
		k, v, _ := strings.Cut(rest, "=")
		if *cur == nil {
			df.Args[k] = v
		} else {
			(*cur).Args[k] = v
		}
	}
	s := *cur
	if s == nil {
		return nil
	}
	switch strings.ToUpper(op) {
	case "LABEL":
		for _, m := range kvRe.FindAllStringSubmatch(rest, -1) {
			v := m[2]
			if strings.HasPrefix(v, `"`) {
				var u string
				if err := json.Unmarshal([]byte(v), &u); err != nil {
					return fmt.Errorf("LABEL %s: %w", m[1], err)
				}
				v = u
			}
			s.Labels[m[1]] = v
		}
	case "USER":
		s.User = rest
	case "EXPOSE":
		s.Expose = append(s.Expose, strings.Fields(rest)...)
	case "ENTRYPOINT":
		if err := json.Unmarshal([]byte(rest), &s.Entrypoint); err != nil {
			return fmt.Errorf("ENTRYPOINT must use the JSON form: %w", err)
		}
	case "COPY":
		f := strings.Fields(rest)
		var from string
		for len(f) > 0 && strings.HasPrefix(f[0], "--") {
			if v, ok := strings.CutPrefix(f[0], "--from="); ok {
				from = v
			}
			f = f[1:]
		}
		if from != "" && len(f) >= 2 {
			s.Copies = append(s.Copies, Copy{From: from, Srcs: f[:len(f)-1], Dst: f[len(f)-1]})
		}
	}
	return nil
}

// Expand substitutes ${NAME} and $NAME from vars.
func Expand(s string, vars map[string]string) string {
	return os.Expand(s, func(k string) string { return vars[k] })
}
