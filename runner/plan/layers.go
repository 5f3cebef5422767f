package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/faaslab/faaslab/schema"
)

// RuntimePackages are the Python packages Lambda's Python runtimes
// provide themselves: a task needs no layer for them.
var RuntimePackages = []string{"boto3", "botocore"}

// checkLayers refuses cells on aws platforms whose task imports packages
// that no layer of the platform provides for the cell's architecture:
// on Lambda such code fails at import, which would be measured as the
// model's fault. Each task, platform and architecture is reported once.
func (p *Plan) checkLayers() schema.Errors {
	var errs schema.Errors
	type key struct{ task, platform, arch string }
	seen := map[key]bool{}
	for _, c := range p.Cells {
		k := key{c.Task, c.Platform, c.Arch}
		if seen[k] {
			continue
		}
		seen[k] = true
		if err, ok := p.layerError(c.Task, c.Platform, c.Arch); !ok {
			errs = append(errs, err)
		}
	}
	return errs
}

// CheckLayers is checkLayers for the check stage: every task's functions
// run on the study's platform name at arch (the checks' architecture,
// which only the running host knows).
func (p *Plan) CheckLayers(name, arch string) error {
	var errs schema.Errors
	for _, task := range schema.SortedKeys(p.Study.Tasks) {
		if err, ok := p.layerError(task, name, arch); !ok {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// layerError is the error of task's functions on the study's platform
// name at arch, and false, when they need packages that neither the
// platform's layers for arch nor Lambda's runtime provide.
func (p *Plan) layerError(task, name, arch string) (schema.Error, bool) {
	s := p.Study
	pl, ok := s.Platforms[name]
	if !ok || pl.Kind != "aws" {
		return schema.Error{}, true
	}
	provided := map[string]bool{}
	for _, l := range pl.Layers[arch] {
		for _, pkg := range l.Packages {
			provided[normalize(pkg)] = true
		}
	}
	var missing []string
	for _, pkg := range s.Tasks[task].Packages {
		if !provided[normalize(pkg)] && !slices.Contains(RuntimePackages, normalize(pkg)) {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		return schema.Error{}, true
	}
	layers := fmt.Sprintf("platforms.%s.layers.%s", name, arch)
	where := "it has no layers for " + arch
	if len(pl.Layers[arch]) > 0 {
		where = "its " + arch + " layers do not provide them"
	}
	return s.Error(fmt.Sprintf("tasks.%s.packages", task),
		fmt.Sprintf("%s needed on platform %q (kind aws, %s): %s; add a layer that provides them at %s (Lambda's Python runtime provides only %s)",
			strings.Join(missing, ", "), name, arch, where, layers, strings.Join(RuntimePackages, " and "))), false
}

// normalize is a package name as pip compares them (case and the
// separators -, _ and . do not matter), with the import names of common
// packages whose distribution is named otherwise taken as that
// distribution, so a task's "PIL" is a layer's "pillow".
func normalize(pkg string) string {
	n := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(strings.TrimSpace(pkg)))
	if d, ok := distributions[n]; ok {
		return d
	}
	return n
}

// distributions maps import names to the distributions that provide them.
var distributions = map[string]string{
	"pil": "pillow", "cv2": "opencv-python", "yaml": "pyyaml", "sklearn": "scikit-learn",
	"bs4": "beautifulsoup4", "dateutil": "python-dateutil",
}
