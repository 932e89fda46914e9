package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/natsconn"
)

const authArgs = "init | add-agent NAME | add-publisher NAME --types GLOB[,GLOB] [--may-wait] | add-deployer NAME | add-viewer NAME | revoke NAME | push | ls | server-config --dir DIR [flags]"

var authVerbs = []string{"init", "add-agent", "add-publisher", "add-deployer", "add-viewer", "revoke", "push", "ls", "server-config"}

const authHelp = `Issue and revoke the NATS identities of a Herald bus (decentralized auth:
an operator, a SYS and a HERALD account, one user per identity with its
role's permissions in its JWT), kept in the auth directory --dir.

  init                  the trust root, DIR/dispatcher.creds, DIR/admin.creds,
                        DIR/sys.creds and the registry DIR/identities.json;
                        refuses a directory that already has one.
  add-agent NAME        DIR/agents/NAME.creds (the agent's --name is NAME).
  add-publisher NAME    DIR/publishers/NAME.creds: publishes events of the
                        --types (and --keys) globs only, never zk.*, kv.*,
                        call.*, op.*, rollout.*; with --may-skip-hooks it
                        is also a caller (herald call, HTTP calls) that
                        may skip hooks; it reads nothing unless
                        --may-wait (what herald publish --wait reads).
  add-deployer NAME     DIR/deployers/NAME.creds: herald call and herald op;
                        skip_hooks only with --may-skip-hooks.
  add-viewer NAME       DIR/viewers/NAME.creds: herald status and tail, read
                        only.
  revoke NAME           revoke the identity: a dispatcher --auth DIR applies
                        it live; for a cluster, push the account JWT
                        (--nats URL --nats-creds DIR/sys.creds does it).
  push                  send DIR/herald.jwt to the servers' resolver
                        ($SYS.REQ.CLAIMS.UPDATE), as nsc push does: with
                        --nats URL --nats-creds DIR/sys.creds.
  ls                    the identities: NAME ROLE RIGHTS HTTP-TOKEN STATUS.
  server-config         the nats-server configuration to include for a
                        cluster (operator, system account, full resolver).

Globs: a type token is a literal, '*' or a last '>'; a key glob's segments
are literals, '*' or a last '**'. Anything a NATS subject permission cannot
say exactly (web-*, ** before the end) is refused.
--http-token prints a bearer token for the HTTP API once and writes it to
DIR/<kind>/NAME.token (0600); the registry keeps only its hash.`

// authCmd is "herald auth".
type authCmd struct {
	fs          *flag.FlagSet
	dir         string
	types, keys string
	maySkip     bool
	mayWait     bool
	httpToken   bool
	json        bool
	resolverDir string
	conn        connFlags
}

func (c *authCmd) flags(fs *flag.FlagSet) {
	c.fs = fs
	fs.StringVar(&c.dir, "dir", "", "auth `DIR` (the trust root, credentials, identities.json)")
	fs.StringVar(&c.types, "types", "", "add-publisher: event type `GLOB[,GLOB]` it may publish")
	fs.StringVar(&c.keys, "keys", "", "add-publisher: key `GLOB[,GLOB]` it may publish (default: every key)")
	fs.BoolVar(&c.maySkip, "may-skip-hooks", false, "add-deployer: may ask herald call to skip hooks; add-publisher: may also call (herald call) and skip hooks")
	fs.BoolVar(&c.mayWait, "may-wait", false, "add-publisher: may read what herald publish --wait reads (announcements, outcomes, rollouts)")
	fs.BoolVar(&c.httpToken, "http-token", false, "add-publisher, add-deployer, add-viewer: also issue an HTTP bearer token (printed once)")
	fs.BoolVar(&c.json, "json", false, "ls: JSON instead of a table")
	fs.StringVar(&c.resolverDir, "resolver-dir", auth.DefaultResolverDir, "server-config: the resolver's `dir` for account JWTs on the servers")
	c.conn.add(fs)
}

// verbFlags are the flags each verb takes besides --dir.
var verbFlags = map[string][]string{
	"add-agent":     {},
	"add-publisher": {"types", "keys", "may-skip-hooks", "may-wait", "http-token"},
	"add-deployer":  {"may-skip-hooks", "http-token"},
	"add-viewer":    {"http-token"},
	"revoke":        {"nats", "nats-creds", "nats-user", "nats-password", "nats-token", "nats-tls-ca", "nats-tls-cert", "nats-tls-key", "timeout"},
	"push":          {"nats", "nats-creds", "nats-user", "nats-password", "nats-token", "nats-tls-ca", "nats-tls-cert", "nats-tls-key", "timeout"},
	"ls":            {"json"},
	"server-config": {"resolver-dir"},
}

func (c *authCmd) run(ctx context.Context, m *Main, s stdio, args []string) error {
	if len(args) == 0 {
		return usageErrorf("want one of %s", strings.Join(authVerbs, ", "))
	}
	verb := args[0]
	pos, err := parseInterleaved(c.fs, args[1:])
	if err != nil {
		return reported(usageErrorf("%v", err))
	}
	wantName := strings.HasPrefix(verb, "add-") || verb == "revoke"
	switch {
	case !contains(authVerbs, verb):
		return usageErrorf("unknown auth verb %q: want one of %s", verb, strings.Join(authVerbs, ", "))
	case wantName && len(pos) != 1:
		return usageErrorf("%s wants exactly one NAME", verb)
	case !wantName && len(pos) != 0:
		return usageErrorf("%s takes no argument (got %q)", verb, pos[0])
	case c.dir == "":
		return usageErrorf("--dir is required")
	}
	var bad string
	c.fs.Visit(func(f *flag.Flag) {
		if f.Name != "dir" && !contains(verbFlags[verb], f.Name) && bad == "" {
			bad = f.Name
		}
	})
	if bad != "" {
		return usageErrorf("--%s does not apply to %s", bad, verb)
	}
	d := auth.Dir(c.dir)
	switch verb {
	case "init":
		return c.init(s, d, m.now())
	case "add-agent":
		return c.add(s, d, auth.Spec{Name: pos[0], Role: auth.RoleAgent}, m.now())
	case "add-publisher":
		return c.add(s, d, auth.Spec{Name: pos[0], Role: auth.RolePublisher, Types: splitList(c.types), Keys: splitList(c.keys), MaySkipHooks: c.maySkip, MayWait: c.mayWait, HTTPToken: c.httpToken}, m.now())
	case "add-deployer":
		return c.add(s, d, auth.Spec{Name: pos[0], Role: auth.RoleDeployer, MaySkipHooks: c.maySkip, HTTPToken: c.httpToken}, m.now())
	case "add-viewer":
		return c.add(s, d, auth.Spec{Name: pos[0], Role: auth.RoleViewer, HTTPToken: c.httpToken}, m.now())
	case "revoke":
		return c.revoke(s, d, pos[0], m.now())
	case "ls":
		return c.ls(s, d)
	case "push":
		if c.conn.cfg.URL == "" {
			c.conn.cfg.URL = os.Getenv(EnvNATS)
		}
		if c.conn.cfg.URL == "" {
			return usageErrorf("push wants --nats URL or $HERALD_NATS (and --nats-creds %s)", d.Path(auth.SysCredsFile))
		}
		tok, err := d.ReadJWT(auth.AccountJWTFile)
		if err != nil {
			return err
		}
		return c.push(s, tok)
	default:
		out, err := d.ServerConfig(c.resolverDir)
		if err != nil {
			return err
		}
		fmt.Fprint(s.out, out)
		return nil
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (c *authCmd) init(s stdio, d auth.Dir, now time.Time) error {
	wrote, err := d.Init(now)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "herald auth: wrote the trust root in %s:\n", c.dir)
	for _, f := range wrote {
		fmt.Fprintf(s.out, "  %s\n", f)
	}
	fmt.Fprintf(s.out, `Keep the *.nk seeds and *.creds files secret (mode 0600).
Next:
  dispatcher --auth %[1]s ...            the embedded server enforces these identities
  herald auth server-config --dir %[1]s  for an external cluster (then: dispatcher --nats URL --auth %[1]s --nats-creds %[2]s)
  herald auth add-agent HOST --dir %[1]s, then: agent --name HOST --nats-creds %[1]s/agents/HOST.creds
  herald auth add-publisher NAME --types TYPE.* --dir %[1]s; add-deployer, add-viewer likewise
  herald ... --nats-creds %[3]s             the admin may do everything
`, c.dir, d.Path(auth.DispatcherCredsFile), d.Path(auth.AdminCredsFile))
	return nil
}

func (c *authCmd) add(s stdio, d auth.Dir, spec auth.Spec, now time.Time) error {
	if spec.Role != auth.RolePublisher && (c.types != "" || c.keys != "") {
		return usageErrorf("--types and --keys are for add-publisher")
	}
	iss, err := d.Add(spec, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "herald auth: %s %s: wrote %s\n", spec.Role, spec.Name, iss.Creds)
	if iss.Token != "" {
		fmt.Fprintf(s.out, "HTTP token (shown once; also in %s): %s\n", iss.TokenFile, iss.Token)
	}
	return nil
}

func (c *authCmd) revoke(s stdio, d auth.Dir, name string, now time.Time) error {
	accountJWT, err := d.Revoke(name, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "herald auth: revoked %s in %s and %s\n", name, d.Path(auth.RegistryFile), d.Path(auth.AccountJWTFile))
	if c.conn.cfg.URL == "" {
		fmt.Fprintf(s.out, "A dispatcher --auth %[1]s applies it live. For an external cluster, push the account JWT:\n  herald auth push --dir %[1]s --nats URL --nats-creds %[2]s\n", c.dir, d.Path(auth.SysCredsFile))
		return nil
	}
	return c.push(s, accountJWT)
}

// push sends the account JWT to the servers' resolver.
func (c *authCmd) push(s stdio, accountJWT string) error {
	if err := c.conn.resolve(); err != nil {
		return err
	}
	nc, err := natsconn.Connect(c.conn.cfg, "herald-auth", c.conn.timeout)
	if err != nil {
		return fmt.Errorf("cannot push the account jwt: %w", err)
	}
	defer nc.Close()
	msg, err := auth.Push(nc, accountJWT, c.conn.timeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "herald auth: pushed the account JWT to %s: %s\n", natsconn.ConnectedURL(nc), msg)
	return nil
}

func (c *authCmd) ls(s stdio, d auth.Dir) error {
	reg, err := auth.LoadRegistry(string(d))
	if err != nil {
		return err
	}
	if c.json {
		enc := json.NewEncoder(s.out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(reg)
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tRIGHTS\tHTTP-TOKEN\tSTATUS")
	for _, id := range reg.Identities {
		token, status := "no", "active"
		if id.TokenSHA256 != "" {
			token = "yes"
		}
		if !id.Active() {
			status = "revoked"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id.Name, id.Role, rights(id), token, status)
	}
	return tw.Flush()
}

// rights says in a few words what an identity may do.
func rights(id auth.Identity) string {
	var r string
	switch id.Role {
	case auth.RolePublisher:
		r = "types=" + strings.Join(id.Types, ",")
		if len(id.Keys) > 0 {
			r += " keys=" + strings.Join(id.Keys, ",")
		}
		if id.MayWait {
			r += " wait"
		}
		if id.MaySkipHooks {
			r += " call"
		}
	case auth.RoleDeployer:
		r = "call,op"
	case auth.RoleAgent:
		r = "outcomes,announce"
	case auth.RoleViewer:
		r = "read"
	case auth.RoleDispatcher, auth.RoleAdmin:
		r = "all"
	}
	if id.MaySkipHooks {
		r += " skip-hooks"
	}
	return r
}
