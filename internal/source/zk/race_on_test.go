//go:build race

package zk_test

func raceBuild() bool { return true }
