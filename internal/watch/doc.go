// Package watch parses and validates watch files: YAML with a "watches:"
// list, unknown keys rejected, every error naming the file, line and field;
// and it reads a watches directory (recursively), the one walk the agent
// and herald validate share. It is Twitcher's RegisterWatch as data. It
// knows how a watch is written, not how it is run: no NATS, no processes.
package watch
