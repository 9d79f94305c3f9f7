package main

import (
	"flag"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// applyConfigFile sets every flag named by a key of the YAML file, unless the
// flag was given on the command line (flags win over the file), and returns
// the `sinks:` section (nil when absent) for parseSinks. Unknown keys are
// errors that name their line.
func applyConfigFile(fs *flag.FlagSet, path string) (*yaml.Node, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config %s line %d: must be a mapping of flag names to values", path, root.Line)
	}
	var sinks *yaml.Node
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value == "sinks" {
			sinks = v
			continue
		}
		if fs.Lookup(k.Value) == nil || k.Value == "config" {
			return nil, fmt.Errorf("config %s line %d: unknown key %q", path, k.Line, k.Value)
		}
		if v.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("config %s line %d: %s must be a single value", path, v.Line, k.Value)
		}
		if explicit[k.Value] {
			continue
		}
		if err := fs.Set(k.Value, v.Value); err != nil {
			return nil, fmt.Errorf("config %s line %d: %s: %w", path, v.Line, k.Value, err)
		}
	}
	return sinks, nil
}
