// Command images builds the container images of the test cluster without a container engine
// or a registry, as tarballs that `ctr images import` reads:
//
//	poet, poet-operator  the Dockerfile's targets: the same `make build`, and the labels,
//	                     user, entrypoint, exposed ports and file destinations read from the
//	                     Dockerfile itself, on a static base like distroless/static:nonroot
//	                     (/etc/passwd and /etc/group with nonroot 65532, /tmp, /home/nonroot,
//	                     the CA bundle)
//	pause                the sandbox image (hack/cluster/pause)
//	coredns              the cluster's DNS server (built by hack/cluster/assets.sh)
//
// Usage: go run ./images --repo ../.. --out DIR [--version v0.1.0] [--only poet,operator] [--coredns PATH]
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/poet-operator/poet-operator/hack/cluster/internal/image"
)

func main() {
	repo := flag.String("repo", "../..", "repository root (holds the Dockerfile and the Makefile)")
	out := flag.String("out", "", "directory for the image tarballs")
	version := flag.String("version", "", "image version (default: the Dockerfile's VERSION argument)")
	only := flag.String("only", "poet,operator,pause,coredns", "comma-separated images to build")
	coredns := flag.String("coredns", "", "the coredns binary (needed for the coredns image)")
	flag.Parse()
	if *out == "" {
		log.Fatal("--out is required")
	}
	if err := run(*repo, *out, *version, strings.Split(*only, ","), *coredns); err != nil {
		log.Fatal(err)
	}
}

func run(repo, out, version string, only []string, coredns string) error {
	repo, err := filepath.Abs(repo)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	df, err := image.ParseDockerfile(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		return err
	}
	if version == "" {
		// The ARG default of the build stage: what `docker build` stamps without --build-arg.
		if b, ok := df.Stages["build"]; ok {
			version = b.Args["VERSION"]
		}
	}
	if version == "" {
		return fmt.Errorf("no --version and no ARG VERSION default in the Dockerfile's build stage")
	}
	tmp, err := os.MkdirTemp("", "poet-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	built := false
	for _, name := range only {
		var img image.Spec
		switch name {
		case "poet", "operator":
			if !built {
				// The Dockerfile's build stage runs exactly this.
				cmd := exec.Command("make", "-C", repo, "build", "VERSION="+version, "BIN="+filepath.Join(tmp, "out"))
				cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
				if err := cmd.Run(); err != nil {
					return fmt.Errorf("make build: %w", err)
				}
				built = true
			}
			st, ok := df.Stages[name]
			if !ok {
				return fmt.Errorf("Dockerfile has no stage %q", name)
			}
			img, err = image.FromStage(st, version, map[string]string{"/out": filepath.Join(tmp, "out")})
			if err != nil {
				return err
			}
			img.Ref = image.Repository(name) + ":" + version
		case "pause":
			bin := filepath.Join(tmp, "pause")
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./pause")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			cmd.Dir = filepath.Join(repo, "hack", "cluster")
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("build pause: %w", err)
			}
			img = image.Spec{Ref: "localhost/pause:latest", Entrypoint: []string{"/pause"}, User: "65535:65535",
				Files: []image.File{{Src: bin, Dst: "/pause", Mode: 0o755}}}
		case "coredns":
			if coredns == "" {
				return fmt.Errorf("--coredns is required for the coredns image")
			}
			img = image.Spec{Ref: "localhost/coredns:latest", Entrypoint: []string{"/coredns"}, User: "0:0",
				Files: []image.File{{Src: coredns, Dst: "/coredns", Mode: 0o755}}}
		default:
			return fmt.Errorf("unknown image %q", name)
		}
		path := filepath.Join(out, name+".tar")
		if err := image.Write(img, path); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(os.Stderr, "images: %s -> %s\n", img.Ref, path)
	}
	return nil
}
