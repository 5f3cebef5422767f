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
	s := p.Study
	var errs schema.Errors
	type key struct{ task, platform, arch string }
	seen := map[key]bool{}
	for _, c := range p.Cells {
		k := key{c.Task, c.Platform, c.Arch}
		pl, ok := s.Platforms[c.Platform]
		if seen[k] || !ok || pl.Kind != "aws" {
			continue
		}
		seen[k] = true
		provided := map[string]bool{}
		for _, l := range pl.Layers[c.Arch] {
			for _, pkg := range l.Packages {
				provided[normalize(pkg)] = true
			}
		}
		var missing []string
		for _, pkg := range s.Tasks[c.Task].Packages {
			if !provided[normalize(pkg)] && !slices.Contains(RuntimePackages, normalize(pkg)) {
				missing = append(missing, pkg)
			}
		}
		if len(missing) == 0 {
			continue
		}
		layers := fmt.Sprintf("platforms.%s.layers.%s", c.Platform, c.Arch)
		where := "it has no layers for " + c.Arch
		if len(pl.Layers[c.Arch]) > 0 {
			where = "its " + c.Arch + " layers do not provide them"
		}
		errs = append(errs, s.Error(fmt.Sprintf("tasks.%s.packages", c.Task),
			fmt.Sprintf("%s needed on platform %q (kind aws, %s): %s; add a layer that provides them at %s (Lambda's Python runtime provides only %s)",
				strings.Join(missing, ", "), c.Platform, c.Arch, where, layers, strings.Join(RuntimePackages, " and "))))
	}
	return errs
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
