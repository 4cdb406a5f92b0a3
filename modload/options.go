package modload

import (
	"path/filepath"

	"github.com/earlyroot/earlyroot/cmdline"
)

// confDirs returns the modprobe.d directories below root in modprobe's
// order of precedence: etc, run, lib, usr/lib (see [ReadModprobeDirs]).
func confDirs(root string) []string {
	out := make([]string, 0, 4)
	for _, d := range []string{"etc", "run", "lib", "usr/lib"} {
		out = append(out, filepath.Join(root, d, "modprobe.d"))
	}
	return out
}

// SystemOptions gathers module parameters and the blacklist the way
// modprobe does, for PID 1 and the modprobe personality alike: the
// modprobe.d files of the directories below root (see confDirs), then
// the parsed kernel command line (cfg.ModParams and cfg.Blacklist, see
// package cmdline, the one parser of both). Command-line parameters come
// after the files' ones, so their values win. Unreadable files and
// malformed lines are reported in err; everything readable is returned.
// The caller fills in Options.SysModule and Options.Observe.
func SystemOptions(root string, cfg cmdline.Config) (Options, error) {
	params, blacklist, err := ReadModprobeDirs(confDirs(root)...)
	for mod, ps := range cfg.ModParams {
		params[mod] = append(params[mod], ps...)
	}
	return Options{Params: params, Blacklist: append(blacklist, cfg.Blacklist...)}, err
}
