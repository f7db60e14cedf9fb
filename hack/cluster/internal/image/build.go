package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Spec is one image: its reference, configuration and files.
type Spec struct {
	Ref          string
	User         string
	Entrypoint   []string
	Labels       map[string]string
	ExposedPorts []string
	Files        []File
	// Base adds the static base every project image has (like distroless/static:nonroot).
	Base bool
}

// File is one regular file of the image.
type File struct {
	Src  string // a file on this machine
	Dst  string // absolute path in the image
	Mode int64
}

// Repository is the repository of the Dockerfile target with this stage name.
func Repository(stage string) string {
	if stage == "operator" {
		return Registry + "/poet-operator"
	}
	return Registry + "/" + stage
}

// FromStage turns a Dockerfile stage into a Spec: labels with the version expanded, user,
// entrypoint, exposed ports, and each `COPY --from` source found under dirs (the builder
// stage's directory prefix mapped to a directory here).
func FromStage(st *Stage, version string, dirs map[string]string) (Spec, error) {
	vars := map[string]string{"VERSION": version}
	s := Spec{User: st.User, Entrypoint: st.Entrypoint, Labels: map[string]string{}, Base: true}
	for k, v := range st.Labels {
		s.Labels[k] = Expand(v, vars)
	}
	for _, p := range st.Expose {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		s.ExposedPorts = append(s.ExposedPorts, p)
	}
	for _, c := range st.Copies {
		for _, src := range c.Srcs {
			local := ""
			for prefix, dir := range dirs {
				if rest, ok := strings.CutPrefix(src, prefix+"/"); ok {
					local = filepath.Join(dir, rest)
				}
			}
			if local == "" {
				return Spec{}, fmt.Errorf("COPY source %s: no local directory for it", src)
			}
			dst := c.Dst
			if strings.HasSuffix(dst, "/") || len(c.Srcs) > 1 {
				dst = path.Join(dst, path.Base(src))
			}
			s.Files = append(s.Files, File{Src: local, Dst: dst, Mode: 0o755})
		}
	}
	return s, nil
}

// Image assembles the image of a Spec: one layer, linux/amd64.
func Image(s Spec) (v1.Image, error) {
	layerBytes, err := layer(s)
	if err != nil {
		return nil, err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.User = s.User
	cf.Config.Entrypoint = s.Entrypoint
	cf.Config.Labels = s.Labels
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if s.Base {
		cf.Config.Env = append(cf.Config.Env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
		cf.Config.WorkingDir = "/home/nonroot"
	}
	if len(s.ExposedPorts) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range s.ExposedPorts {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	return mutate.ConfigFile(img, cf)
}

// Write writes the image as a tarball that `ctr images import` and `docker load` read.
func Write(s Spec, path string) error {
	img, err := Image(s)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(s.Ref)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func layer(s Spec) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0).UTC()
	dirs := map[string]bool{}
	mkdir := func(d string, mode int64, uid int) error {
		if d == "/" || d == "." || dirs[d] {
			return nil
		}
		dirs[d] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: epoch})
	}
	parents := func(p string) error {
		var chain []string
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			chain = append(chain, d)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			if err := mkdir(chain[i], 0o755, 0); err != nil {
				return err
			}
		}
		return nil
	}
	file := func(p string, mode int64, data []byte) error {
		if err := parents(p); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if s.Base {
		if err := mkdir("/tmp", 0o1777, 0); err != nil {
			return nil, err
		}
		if err := mkdir("/home", 0o755, 0); err != nil {
			return nil, err
		}
		if err := mkdir("/home/nonroot", 0o700, 65532); err != nil {
			return nil, err
		}
		if err := file("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")); err != nil {
			return nil, err
		}
		if err := file("/etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")); err != nil {
			return nil, err
		}
		if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
			if err := file("/etc/ssl/certs/ca-certificates.crt", 0o644, ca); err != nil {
				return nil, err
			}
		}
	}
	files := append([]File(nil), s.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Dst < files[j].Dst })
	for _, f := range files {
		data, err := os.ReadFile(f.Src)
		if err != nil {
			return nil, err
		}
		if err := file(f.Dst, f.Mode, data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
