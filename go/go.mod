module wxseal.dev/go

go 1.19

require (
	github.com/tjfoc/gmsm v1.3.0
	golang.org/x/crypto v0.0.0
)

replace github.com/tjfoc/gmsm => /usr/share/gocode/src/github.com/tjfoc/gmsm
replace golang.org/x/crypto => /usr/share/gocode/src/golang.org/x/crypto
replace golang.org/x/net => /usr/share/gocode/src/golang.org/x/net
replace golang.org/x/sys => /usr/share/gocode/src/golang.org/x/sys
replace golang.org/x/term => /usr/share/gocode/src/golang.org/x/term
replace golang.org/x/text => /usr/share/gocode/src/golang.org/x/text
