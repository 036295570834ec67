#!/bin/sh
# Fails when a translation listed in po/LINGUAS misses a string that the files in
# po/POTFILES.in mark for translation, or has fuzzy or malformed entries.
#   po/check-translations.sh [SOURCE_ROOT]
# The catalogue is extracted with the keywords of meson's 'glib' gettext preset.
set -eu

srcroot=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$srcroot"

for tool in xgettext msgmerge msgattrib msgfmt; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool not found (install gettext)"
    exit 77
  fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

xgettext --from-code=UTF-8 --add-comments \
  --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 \
  --keyword=g_dcgettext:2 --keyword=g_dngettext:2,3 --keyword=g_dpgettext2:2c,3 \
  --flag=N_:1:pass-c-format --flag=C_:2:pass-c-format --flag=NC_:2:pass-c-format \
  --flag=g_dngettext:2:pass-c-format --flag=g_strdup_printf:1:c-format \
  --flag=g_string_printf:2:c-format --flag=g_string_append_printf:2:c-format \
  --flag=g_error_new:3:c-format --flag=g_set_error:4:c-format \
  --flag=g_markup_printf_escaped:1:c-format --flag=g_log:3:c-format \
  --flag=g_print:1:c-format --flag=g_printerr:1:c-format --flag=g_printf:1:c-format \
  --flag=g_fprintf:2:c-format --flag=g_sprintf:2:c-format --flag=g_snprintf:3:c-format \
  --package-name=gemba --directory="$srcroot" --files-from=po/POTFILES.in \
  --output="$tmp/gemba.pot" 2> "$tmp/xgettext.log" || { cat "$tmp/xgettext.log"; exit 1; }

# A GLib format macro inside _() cuts the msgid short ("Frames %" G_GINT64_FORMAT becomes
# "Frames %"), so the string can never be translated. xgettext only warns; we fail.
status=0
if grep -q 'not a valid C format string' "$tmp/xgettext.log"; then
  cat "$tmp/xgettext.log"
  echo "FAIL: these msgids are cut short. Inside _() use the <inttypes.h> macros (PRId64," \
       "PRIu64), which gettext understands, instead of G_GINT64_FORMAT and friends."
  status=1
fi

if [ ! -f "$tmp/gemba.pot" ]; then
  echo "po/POTFILES.in yields no translatable strings"
  exit 0
fi
total=$(msgattrib --no-obsolete "$tmp/gemba.pot" | grep -c '^msgid ' || true)
echo "sources: $((total - 1)) strings in $(grep -vc '^#' po/POTFILES.in) files"

# LINGUAS may hold several codes on one line, so split words, not lines.
# shellcheck disable=SC2013
for lang in $(sed -e 's/#.*//' po/LINGUAS); do
  po="po/$lang.po"
  if [ ! -f "$po" ]; then
    echo "FAIL $lang: $po is missing (listed in po/LINGUAS)"
    status=1
    continue
  fi

  # The committed file itself must compile with format checks.
  if ! msgfmt --check --output-file=/dev/null "$po"; then
    echo "FAIL $lang: $po does not compile"
    status=1
    continue
  fi

  msgmerge --quiet --no-fuzzy-matching --output-file="$tmp/$lang.po" "$po" "$tmp/gemba.pot"
  printf '%s: ' "$lang"
  msgfmt --check --statistics --output-file=/dev/null "$tmp/$lang.po" 2>&1

  msgattrib --untranslated --no-obsolete "$tmp/$lang.po" > "$tmp/$lang.untranslated"
  if grep -q '^msgid ' "$tmp/$lang.untranslated"; then
    echo "FAIL $lang: strings with no translation in $po:"
    sed '1,/^$/d' "$tmp/$lang.untranslated"
    status=1
  fi

  msgattrib --only-fuzzy --no-obsolete "$tmp/$lang.po" > "$tmp/$lang.fuzzy"
  if grep -q '^msgid ' "$tmp/$lang.fuzzy"; then
    echo "FAIL $lang: fuzzy strings in $po (check the translation, then drop the fuzzy flag):"
    sed '1,/^$/d' "$tmp/$lang.fuzzy"
    status=1
  fi

  obsolete=$(msgattrib --only-obsolete "$tmp/$lang.po" | grep -c '^#~ msgid ' || true)
  if [ "$obsolete" -gt 0 ]; then
    echo "note $lang: $obsolete entries in $po match no string in the sources (removed, or" \
         "translated before their source file was listed in po/POTFILES.in)"
  fi
done

if [ "$status" -ne 0 ]; then
  echo "To add the new strings: meson compile -C <build> gemba-pot gemba-update-po, translate, commit."
fi
exit "$status"
