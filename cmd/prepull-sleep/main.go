// Command prepull-sleep is the no-op main process of every container in a pre-pull DaemonSet.
//
// The DaemonSet runs each target image with this binary as its command, so images without a
// shell (distroless, scratch) work, and the container keeps running, which keeps the image in
// use and out of the kubelet's image garbage collection. It must be static (the target image
// may have no libc), tiny, and it must exit at once on SIGTERM so node drains and rollouts of
// the DaemonSet are not held up by the termination grace period.
//
// Usage:
//
//	prepull-sleep                 block until SIGTERM or SIGINT, then exit 0
//	prepull-sleep install <dest>  copy this executable to <dest> (mode 0755) and exit 0
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	args := os.Args[1:]
	switch {
	case len(args) == 0:
		sleep()
	case len(args) == 2 && args[0] == "install":
		if err := install(args[1]); err != nil {
			fmt.Fprintf(os.Stderr, "prepull-sleep: install: %v\n", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: prepull-sleep [install <dest>]")
		os.Exit(2)
	}
}

func sleep() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	// One line, written only once the handler is in place: it tells readers of the pod's log (and
	// tests) that a SIGTERM from now on ends the process with 0.
	fmt.Fprintln(os.Stderr, "prepull-sleep: holding the image; exits on SIGTERM")
	<-signals
}

// install copies the running executable to dest. The init container of a pre-pull DaemonSet runs
// it from prepull's own image into an emptyDir shared with the target-image containers. It
// creates no directories: dest's directory is the mounted emptyDir.
func install(dest string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	defer src.Close()
	// Write to a temporary name and rename, so a container never sees a half-written binary even
	// if the init container is restarted mid-copy.
	tmp := dest + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	// OpenFile's mode is filtered by the umask; make the result executable by any uid regardless.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, dest)
}
