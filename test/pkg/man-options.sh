#!/usr/bin/env bash
# Every option a program's --help lists (mprelay-routes: its option parser),
# and every key the config parser knows (common/config.c's key_names), has
# an entry (.It) in its man page: an option added without its documentation
# fails make man-lint.
# Usage: test/pkg/man-options.sh BUILD_DIR (run from the repository root).
set -euo pipefail

B=${1:?usage: $0 BUILD_DIR}
missing=0
checked=0

# check PAGE FORM...: each FORM ("Fl \-bind", "Cm rate=") must open or
# follow a comma in one of PAGE's .It lines.
check() {
	local page=$1 form items
	shift
	items=$(grep -E '^\.It ' "$page" | sed 's/$/ /')
	for form in "$@"; do
		checked=$((checked + 1))
		if ! grep -qF -- "$form " <<<"$items"; then
			echo "man-options: $page has no entry for '$form'"
			missing=1
		fi
	done
}

# The options a --help lists, in the man page's form: --bind as
# "Fl \-bind", -n as "Fl n". Only the option column of lines that start
# with an option counts (not an option named in a description).
help_forms() {
	grep -E '^ +-' | sed -E 's/^ +//; s/  .*//' | grep -oE -- '(^|[ ,])--?[a-z][a-z-]*' |
		sed -E 's/^[ ,]*//' | sort -u | while read -r o; do
		case "$o" in
		--*) echo "Fl $(sed 's/-/\\-/g' <<<"${o#-}")" ;;
		*) echo "Fl ${o#-}" ;;
		esac
	done
}

for prog in mpclient mpserver; do
	mapfile -t forms < <("$B/$prog" --help | help_forms)
	[ ${#forms[@]} -ge 20 ] || { echo "man-options: $prog --help lists too few options"; exit 1; }
	check "man/$prog.8" "${forms[@]}"
done
mapfile -t forms < <(scripts/mpstat --help | help_forms)
check man/mpstat.8 "${forms[@]}"
# mprelay-routes: the patterns of its `case` on the arguments.
mapfile -t forms < <(grep -oE '^	+-[-a-z|]+\)' scripts/mprelay-routes | tr -d '\t)' | tr '|' '\n' |
	sed -E 's/^ +/  /; s/^/  /' | help_forms)
[ ${#forms[@]} -ge 4 ] || { echo "man-options: cannot read mprelay-routes' options"; exit 1; }
check man/mprelay-routes.8 "${forms[@]}"
mapfile -t forms < <(sed -n '/key_names\[K_MAX\] = {/,/};/p' common/config.c |
	grep -oE '"[a-z]+"' | tr -d '"' | sed -E 's/^backup$/Cm backup/; t; s/^(.*)$/Cm \1= Ns/')
[ ${#forms[@]} -ge 9 ] || { echo "man-options: cannot read key_names in common/config.c"; exit 1; }
check man/mprelay.conf.5 "${forms[@]}"

[ $missing = 0 ] || exit 1
echo "== man-options: $checked options and config keys, each with its entry in its man page"
