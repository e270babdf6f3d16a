// A peer for the admission bench: the same mutation as prepull's /mutate, written the way a Go
// team would write it with controller-runtime's webhook package. The object is decoded as
// unstructured (so the round trip adds no defaulted fields), the annotation is set, and
// admission.PatchResponseFromRaw diffs the two documents into the JSON patch, so the answer
// carries the same single operation prepull sends. Images are normalised with
// github.com/distribution/reference, what containerd and the kubelet use.
//
//	PORT=9443 CERT_DIR=/dir/with/tls.crt+tls.key ./controller-runtime-peer
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

const (
	optInAnnotation   = "prepull"
	trackedAnnotation = "prepull.dev/images"
)

type prepullMutator struct{}

func podSpecPath(kind string) []string {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		return []string{"spec", "template", "spec"}
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}
	}
	return nil
}

func imageSetDigest(podSpec map[string]interface{}) string {
	seen := map[string]bool{}
	refs := []string{}
	for _, list := range []string{"initContainers", "containers"} {
		containers, _, _ := unstructured.NestedSlice(podSpec, list)
		for _, c := range containers {
			container, ok := c.(map[string]interface{})
			if !ok {
				continue
			}
			image, _ := container["image"].(string)
			named, err := reference.ParseNormalizedNamed(image)
			if err != nil {
				continue
			}
			canonical := reference.TagNameOnly(named).String()
			if !seen[canonical] {
				seen[canonical] = true
				refs = append(refs, canonical)
			}
		}
	}
	sort.Strings(refs)
	encoded, _ := json.Marshal(refs)
	sum := sha256.Sum256(encoded)
	return "sha256:" + hex.EncodeToString(sum[:])[:16]
}

func (m *prepullMutator) Handle(_ context.Context, req admission.Request) admission.Response {
	path := podSpecPath(req.Kind.Kind)
	if path == nil || (req.Operation != "CREATE" && req.Operation != "UPDATE") || req.SubResource != "" {
		return admission.Allowed("")
	}
	object := &unstructured.Unstructured{}
	if err := object.UnmarshalJSON(req.Object.Raw); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	annotations := object.GetAnnotations()
	if annotations[optInAnnotation] != "true" {
		return admission.Allowed("")
	}
	podSpec, found, _ := unstructured.NestedMap(object.Object, path...)
	if !found {
		return admission.Allowed("")
	}
	digest := imageSetDigest(podSpec)
	if annotations[trackedAnnotation] == digest {
		return admission.Allowed("")
	}
	annotations[trackedAnnotation] = digest
	object.SetAnnotations(annotations)
	mutated, err := json.Marshal(object.Object)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, mutated)
}

func main() {
	port, err := strconv.Atoi(os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "PORT must be a port number")
		os.Exit(2)
	}
	server := webhook.NewServer(webhook.Options{
		Host:    "127.0.0.1",
		Port:    port,
		CertDir: os.Getenv("CERT_DIR"),
	})
	server.Register("/mutate", &webhook.Admission{Handler: &prepullMutator{}})
	server.Register("/readyz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"status":"ready"}`))
	}))
	if err := server.Start(ctrl.SetupSignalHandler()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
