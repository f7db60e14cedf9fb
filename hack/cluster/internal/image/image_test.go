package image

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"sigs.k8s.io/yaml"
)

// The images built here and the Dockerfile's targets must agree on user, entrypoint,
// labels, exposed ports and where the binaries land: the builder reads them from the
// Dockerfile, and this test reads them back out of the written tarball.
func TestImagesMatchDockerfile(t *testing.T) {
	repo := filepath.Join("..", "..", "..", "..")
	df, err := ParseDockerfile(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	version := df.Stages["build"].Args["VERSION"]
	if version == "" {
		t.Fatal("the Dockerfile's build stage has no ARG VERSION default")
	}
	out := t.TempDir()
	for _, bin := range []string{"poet", "poet_bench", "manager"} {
		if err := os.WriteFile(filepath.Join(out, bin), []byte("binary "+bin), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]struct {
		user       string
		entrypoint []string
		files      []string
		title      string
	}{
		"poet":     {"65532:65532", []string{"/usr/local/bin/poet"}, []string{"usr/local/bin/poet", "usr/local/bin/poet_bench"}, "poet"},
		"operator": {"65532:65532", []string{"/manager"}, []string{"manager"}, "poet-operator"},
	}
	for stage, w := range want {
		t.Run(stage, func(t *testing.T) {
			st := df.Stages[stage]
			if st == nil {
				t.Fatalf("no stage %s", stage)
			}
			spec, err := FromStage(st, version, map[string]string{"/out": out})
			if err != nil {
				t.Fatal(err)
			}
			spec.Ref = Repository(stage) + ":" + version
			path := filepath.Join(t.TempDir(), stage+".tar")
			if err := Write(spec, path); err != nil {
				t.Fatal(err)
			}
			img, err := tarball.ImageFromPath(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.Config.User != st.User || cf.Config.User != w.user {
				t.Errorf("user %q, Dockerfile %q, want %q", cf.Config.User, st.User, w.user)
			}
			if !reflect.DeepEqual(cf.Config.Entrypoint, st.Entrypoint) || !reflect.DeepEqual(cf.Config.Entrypoint, w.entrypoint) {
				t.Errorf("entrypoint %q, Dockerfile %q, want %q", cf.Config.Entrypoint, st.Entrypoint, w.entrypoint)
			}
			if len(st.Labels) < 5 {
				t.Errorf("the Dockerfile's %s stage has %d labels, want the five OCI labels", stage, len(st.Labels))
			}
			for k, v := range st.Labels {
				if got, wantV := cf.Config.Labels[k], strings.ReplaceAll(v, "${VERSION}", version); got != wantV {
					t.Errorf("label %s = %q, want %q", k, got, wantV)
				}
			}
			if len(cf.Config.Labels) != len(st.Labels) {
				t.Errorf("image has %d labels, Dockerfile %d", len(cf.Config.Labels), len(st.Labels))
			}
			if got := cf.Config.Labels["org.opencontainers.image.version"]; got != version {
				t.Errorf("version label %q, want %q", got, version)
			}
			if got := cf.Config.Labels["org.opencontainers.image.title"]; got != w.title || Repository(stage) != Registry+"/"+got {
				t.Errorf("title %q, repository %s", got, Repository(stage))
			}
			for _, p := range st.Expose {
				if _, ok := cf.Config.ExposedPorts[p+"/tcp"]; !ok {
					t.Errorf("port %s not exposed", p)
				}
			}
			files := layerFiles(t, path)
			for _, f := range w.files {
				if files[f] == nil || files[f].Mode&0o111 == 0 {
					t.Errorf("%s missing or not executable", f)
				}
			}
			if pw := files["etc/passwd"]; pw == nil || !strings.Contains(string(pw.data), "nonroot:x:65532:65532:") {
				t.Errorf("/etc/passwd has no nonroot 65532")
			}
			if tmp := files["tmp/"]; tmp == nil || tmp.Mode&0o1777 != 0o1777 {
				t.Errorf("/tmp missing or not 1777")
			}
		})
	}
}

// The chart installs the images this builder names.
func TestChartNamesTheseImages(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "charts", "poet-operator", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Image     struct{ Repository string } `json:"image"`
		PoetImage struct{ Repository string } `json:"poetImage"`
	}
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if v.Image.Repository != Repository("operator") {
		t.Errorf("chart operator image %q, builder %q", v.Image.Repository, Repository("operator"))
	}
	if v.PoetImage.Repository != Repository("poet") {
		t.Errorf("chart poet image %q, builder %q", v.PoetImage.Repository, Repository("poet"))
	}
}

func TestParseDockerfileRejectsShellEntrypoint(t *testing.T) {
	p := filepath.Join(t.TempDir(), "Dockerfile")
	if err := os.WriteFile(p, []byte("FROM x AS a\nENTRYPOINT /bin/sh -c x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseDockerfile(p); err == nil {
		t.Fatal("a shell-form ENTRYPOINT was accepted")
	}
}

type entry struct {
	Mode int64
	data []byte
}

func layerFiles(t *testing.T, path string) map[string]*entry {
	t.Helper()
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		files[h.Name] = &entry{Mode: h.Mode, data: data}
	}
	return files
}
