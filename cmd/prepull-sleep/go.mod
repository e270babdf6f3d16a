module github.com/prepull/prepull/cmd/prepull-sleep

go 1.24
