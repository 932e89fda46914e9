// Package hookfile holds the dispatcher's hook files and job files (whose
// format is package jobfile's): the Hook and File types, their parsing and validation with
// located errors (FieldError: file, line, field), the check of a file's
// methods against call_methods, and the Loader that reads a hooks directory
// into a Set (keeping a broken file's previous version) and picks the hooks
// matching a call. The handlers: section of a hook file is decoded by
// package handlerspec.
//
// It knows neither how calls are answered nor how hooks or handlers run
// (package callhooks, package handlers), so herald validate checks hook
// files without linking the dispatcher's engines.
package hookfile
