#!/usr/bin/env bash
# Lists the functions in src/ (tests excluded) longer than LIMIT lines (default 80), longest first,
# from Universal Ctags' start and end lines. With --check, exits 1 if one of them does not state
# why it is long: a comment containing "long:" (e.g. "// Long: one state machine, read top to
# bottom") inside the function. CONVENTIONS: no function over ~80 lines without a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
limit=80
for a in "$@"; do
  case "$a" in
    --check) check=1 ;;
    *) limit="$a" ;;
  esac
done
CTAGS=$(command -v ctags-universal || command -v ctags || true)
if [ -z "$CTAGS" ] || ! "$CTAGS" --version 2> /dev/null | grep -q 'Universal Ctags'; then
  echo "function-lengths: Universal Ctags is not installed; run scripts/setup.sh" >&2
  exit 2
fi
files=$(git ls-files --cached --others --exclude-standard 'src/*.cc' 'src/*.h' | grep -v '/tests/' || true)
# name, file, start, end for every function definition.
"$CTAGS" --c++-kinds=f --fields=+ne --output-format=u-ctags -o - $files 2> /dev/null |
  awk -F'\t' -v limit="$limit" '{
    start = ""; end = ""; scope = "";
    for (i = 4; i <= NF; i++) {
      if ($i ~ /^line:/) start = substr($i, 6);
      if ($i ~ /^end:/) end = substr($i, 5);
      if ($i ~ /^(class|struct):/) { scope = $i; sub(/^[a-z]+:/, "", scope); sub(/.*::/, "", scope); scope = scope "::"; }
    }
    if (start != "" && end != "" && end - start + 1 > limit) print end - start + 1 "\t" $2 ":" start "\t" scope $1 "\t" end;
  }' | sort -rn | {
  bad=0
  while IFS=$'\t' read -r n where name end; do
    file=${where%%:*}
    start=${where##*:}
    reason=$(sed -n "${start},${end}p" "$file" | grep -im1 -oE '//.*long:.*' || true)
    if [ -n "$reason" ]; then
      printf '%4d  %-45s %s  (%s)\n' "$n" "$where" "$name" "${reason#//}"
    else
      printf '%4d  %-45s %s\n' "$n" "$where" "$name"
      bad=$((bad + 1))
    fi
  done
  if [ $check -eq 1 ] && [ $bad -gt 0 ]; then
    echo "functions: $bad over $limit lines without a 'long:' reason (scripts/function-lengths.sh)"
    exit 1
  fi
}
