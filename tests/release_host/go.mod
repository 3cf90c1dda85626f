module pcc-provider/release-host

go 1.25
