// Command chartcheck validates rendered Kubernetes manifests (helm template
// output on stdin) against the Kubernetes API's own Go types: every
// document must decode strictly (no unknown field, no wrong type) into the
// type of its kind. It stands in for kubeconform, whose JSON schemas are
// downloaded at run time from a host the build machines cannot reach.
// It is its own module so that the Kubernetes API stays out of the
// server's dependencies.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// serviceMonitor is the part of the Prometheus operator's CRD the chart
// uses; its schema is not in the Kubernetes API.
type serviceMonitor struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       struct {
		Selector  map[string]any `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

func main() {
	in, err := io.ReadAll(bufio.NewReader(os.Stdin))
	if err != nil {
		fail("read: %v", err)
	}
	n := 0
	for _, doc := range bytes.Split(in, []byte("\n---")) {
		if len(bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(doc), []byte("---")))) == 0 {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			fail("document %d: %v", n+1, err)
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "v1 PersistentVolumeClaim":
			obj = &corev1.PersistentVolumeClaim{}
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "networking.k8s.io/v1 Ingress":
			obj = &networkingv1.Ingress{}
		case "monitoring.coreos.com/v1 ServiceMonitor":
			obj = &serviceMonitor{}
		default:
			fail("document %d: no schema for %s %s", n+1, head.APIVersion, head.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			fail("%s: %v", head.Kind, err)
		}
		if d, ok := obj.(*appsv1.Deployment); ok {
			checkDeployment(d)
		}
		n++
	}
	if n == 0 {
		fail("no manifests on stdin")
	}
	fmt.Printf("chartcheck: %d manifests valid\n", n)
}

// checkDeployment holds the chart to what docs/OPERATIONS.md promises.
func checkDeployment(d *appsv1.Deployment) {
	for _, c := range d.Spec.Template.Spec.Containers {
		sc := c.SecurityContext
		switch {
		case c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz":
			fail("container %s: readiness probe is not /readyz", c.Name)
		case c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz":
			fail("container %s: liveness probe is not /healthz", c.Name)
		case sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			fail("container %s: root file system is not read-only", c.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			fail("container %s: privilege escalation allowed", c.Name)
		case sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || !strings.EqualFold(string(sc.Capabilities.Drop[0]), "ALL"):
			fail("container %s: capabilities not all dropped", c.Name)
		}
	}
	if p := d.Spec.Template.Spec.SecurityContext; p == nil || p.RunAsNonRoot == nil || !*p.RunAsNonRoot {
		fail("pod may run as root")
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "chartcheck: "+format+"\n", args...)
	os.Exit(1)
}
