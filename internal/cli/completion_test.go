package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/cli"
)

// commandsAndFlags reads every command and its flags from herald's own
// help output (the flag package's), independently of the completion code.
func commandsAndFlags(t *testing.T) map[string][]string {
	t.Helper()
	r := run(t, nil, nil, "help")
	cmdRe := regexp.MustCompile(`^  ([a-z]+) +\S`)
	flagRe := regexp.MustCompile(`^  -([a-z][a-z0-9-]*)`)
	out := map[string][]string{}
	for _, l := range lines(r.out) {
		m := cmdRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		out[m[1]] = nil
		if m[1] == "help" {
			continue
		}
		for _, fl := range lines(run(t, nil, nil, "help", m[1]).out) {
			if fm := flagRe.FindStringSubmatch(fl); fm != nil {
				out[m[1]] = append(out[m[1]], fm[1])
			}
		}
	}
	if len(out) < 10 || len(out["publish"]) < 5 {
		t.Fatalf("could not read the commands from herald help: %v", out)
	}
	return out
}

func completionScript(t *testing.T, shell string) string {
	t.Helper()
	r := run(t, nil, nil, "completion", shell)
	if r.err != nil || r.out == "" {
		t.Fatalf("herald completion %s: exit %d %v %s", shell, r.code(), r.err, r.errOut)
	}
	p := filepath.Join(t.TempDir(), "herald."+shell)
	if err := os.WriteFile(p, []byte(r.out), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func shellOut(t *testing.T, shell string, args ...string) string {
	t.Helper()
	out, err := exec.Command(shell, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", shell, args, err, out)
	}
	return string(out)
}

func TestMain_RunCompletion(t *testing.T) {
	want := commandsAndFlags(t)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			p := completionScript(t, shell)
			b, _ := os.ReadFile(p)
			script := string(b)
			for cmd, flags := range want {
				if !strings.Contains(script, cmd) {
					t.Errorf("command %s missing", cmd)
				}
				for _, f := range flags {
					if shell == "fish" && !strings.Contains(script, "'__fish_seen_subcommand_from "+cmd+"' -l '"+f+"'") ||
						shell != "fish" && !strings.Contains(script, "--"+f) {
						t.Errorf("flag --%s of %s missing", f, cmd)
					}
				}
			}
			if _, err := exec.LookPath(shell); err != nil {
				t.Skipf("%s is not installed: content checked, syntax not", shell)
			}
			shellOut(t, shell, "-n", p)
			switch shell {
			case "bash":
				complete := func(words ...string) string {
					t.Helper()
					q := make([]string, len(words))
					for i, w := range words {
						q[i] = "'" + w + "'"
					}
					return strings.TrimSpace(shellOut(t, "bash", "-c", `source "$1"; COMP_WORDS=(`+strings.Join(q, " ")+`); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _herald; echo "${COMPREPLY[*]}"`, "bash", p))
				}
				for _, c := range []struct {
					words []string
					want  string
				}{
					{[]string{"herald", "pu"}, "publish"},
					{[]string{"herald", "ver"}, "version"},
					{[]string{"herald", "publish", "--ty"}, "--type"},
					{[]string{"herald", "validate", "--dispatcher-c"}, "--dispatcher-config"},
					{[]string{"herald", "kv", ""}, "put get del"},
					{[]string{"herald", "completion", "z"}, "zsh"},
					{[]string{"herald", "help", "op"}, "op"},
				} {
					if got := complete(c.words...); got != c.want {
						t.Errorf("complete %q: %q, want %q", c.words, got, c.want)
					}
				}
			case "zsh":
				out := shellOut(t, "zsh", "-fc", `autoload -U compinit; compinit -u -D; source "$1"; print -r -- $_comps[herald]`, "zsh", p)
				if strings.TrimSpace(out) != "_herald" {
					t.Errorf("zsh: sourcing the script did not register _herald: %q", out)
				}
			case "fish":
				out := shellOut(t, "fish", "-c", `source $argv[1]; complete -C"herald publish --ty"; complete -C"herald kv "; complete -C"herald comp"`, p)
				for _, w := range []string{"--type\t", "put\n", "del\n", "completion\t"} {
					if !strings.Contains(out, w) {
						t.Errorf("fish completions %q lack %q", out, w)
					}
				}
			}
		})
	}
	if r := run(t, nil, nil, "completion", "tcsh"); r.code() != cli.ExitUsage || !strings.Contains(r.errOut, `unknown shell "tcsh"`) {
		t.Errorf("completion tcsh: exit %d %q", r.code(), r.errOut)
	}
}
