#!/usr/bin/env bash
# Layout checks (grep-based, code lines only, not comments):
# - no two top-level modules of src/ refer to each other (`crate::module`, `crate::{...}`, or a
#   name the crate root re-exports, mapped to its module through lib.rs's `pub use`);
# - no two sibling submodules refer to each other (`super::sibling` inside src/DIR/);
# - the leaf modules that hold `unsafe` refer to nothing in the crate (neither `crate::` nor
#   `super::` outside their own tests), and `unsafe` appears nowhere else except the calls of
#   `validated_str` (each with its own `#[allow(unsafe_code)]` and SAFETY comment).
set -euo pipefail
cd "$(dirname "$0")/../src"
LEAVES='mask/append.rs mask/avx2.rs utf8/avx512.rs utf8/unchecked.rs'
code() { grep -v '^\s*//' "$1" || true; }
# Root re-exports: "Name module" per line.
reexports=$(code lib.rs | grep -oE '^pub use [a-z_0-9]+::(\{[^}]*\}|[A-Za-z_0-9]+)' \
  | sed -E 's/^pub use ([a-z_0-9]+)::\{?([^}]*)\}?/\1 \2/' \
  | awk '{m=$1; for (i=2; i<=NF; i++) {n=$i; gsub(/,/, "", n); if (n != "") print n, m}}')
module_of() { # a name after `crate::` -> its top-level module
  case $1 in
    [a-z]*) echo "$1" ;;
    *) awk -v n="$1" '$1 == n {print $2}' <<< "$reexports" ;;
  esac
}
edges=$(
  for f in $(find . -name '*.rs' ! -name lib.rs | sort); do
    from=${f#./}; from=${from%%/*}; from=${from%.rs}
    names=$(code "$f" | grep -oE 'crate::(\{[^}]*\}|[A-Za-z_0-9]+)' \
      | sed -E 's/^crate::\{?//; s/\}$//' | tr ',' '\n' | sed -E 's/^\s+//; s/::.*//; s/\s.*//' || true)
    for n in $names; do echo "$from $(module_of "$n")"; done
  done | awk 'NF == 2 && $1 != $2' | sort -u
)
siblings=$(
  for dir in $(find . -mindepth 1 -type d | sort); do
    for f in "$dir"/*.rs; do
      from=$(basename "$f" .rs)
      [ "$from" = mod ] && continue
      for to in $(code "$f" | grep -oE 'super::[a-z_0-9]+' | sed 's/super:://' | sort -u); do
        [ -f "$dir/$to.rs" ] && [ "$to" != "$from" ] && echo "${dir#./}/$from ${dir#./}/$to"
      done
    done
  done | sort -u
)
status=0
while read -r a b; do
  [ -n "$a" ] || continue
  if grep -qx "$b $a" <<< "$edges$(printf '\n')$siblings" && [[ $a < $b ]]; then
    echo "import circle: $a <-> $b"
    status=1
  fi
done <<< "$edges$(printf '\n')$siblings"
for leaf in $LEAVES; do
  # Everything before the leaf's test module (`#[cfg(test)]` or `#[cfg(all(test, ...))]`).
  if sed -E '/^#\[cfg\((all\()?test[,)]/,$d' "$leaf" | grep -v '^\s*//' | grep -nE 'crate::|super::'; then
    echo "leaf $leaf refers to the crate"
    status=1
  fi
  if [ "$(grep -c '^#!\[allow(unsafe_code)\]' "$leaf")" != 1 ]; then
    echo "leaf $leaf: expected one #![allow(unsafe_code)]"
    status=1
  fi
done
others=$(grep -rn 'unsafe' --include='*.rs' . | grep -vE "^\./($(echo $LEAVES | sed 's/\.rs//g; s/ /|/g'))\.rs:" \
  | grep -vE ':[0-9]+:\s*//' \
  | grep -vE '#\[allow\(unsafe_code\)\]$|unsafe \{ crate::utf8::validated_str\(|^\./lib\.rs:[0-9]+:#!\[deny\(unsafe_code\)\]$' || true)
if [ -n "$others" ]; then
  echo "unsafe outside the leaf modules:"
  echo "$others"
  status=1
fi
if [ $status = 0 ]; then
  echo "imports: no circles between top-level modules or sibling submodules; the unsafe leaves import nothing from the crate"
fi
exit $status
