// Package watch parses and validates watch files: YAML with a "watches:"
// list, unknown and duplicate keys rejected, every error naming the file,
// line and field; it reads a watches directory (recursively), the one
// walk the agent and herald validate share, and follows it with fsnotify
// (Tree: which directories to watch, when to rescan), leaving what a
// rescan loads to the agent. It is Twitcher's RegisterWatch as data. It
// knows how a watch is written, not how it is run: no NATS, no processes
// (it only asks actions whether a watch's user and group exist on this
// host, as a run would look them up).
package watch
