module prepull.dev/bench/loadgen

go 1.24
