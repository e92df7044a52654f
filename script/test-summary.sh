#!/usr/bin/env bash
# Sums the counters of every TRX file under $1 into `tests: N passed, M failed[, K skipped]`.
# Each failed test is listed first, with its message and the top of its stack trace, so that a
# CI log's tail names it. Exits non-zero when a test failed or when no test ran at all.
set -euo pipefail
dir=${1:-artifacts/test-results}
passed=0 failed=0 skipped=0
shopt -s globstar nullglob
for trx in "$dir"/**/*.trx; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$counters"; }
  total=$(get total); executed=$(get executed); p=$(get passed); f=$(get failed)
  e=$(get error); t=$(get timeout); a=$(get aborted)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0} + ${t:-0} + ${a:-0}))
  skipped=$((skipped + ${total:-0} - ${p:-0} - ${f:-0} - ${e:-0} - ${t:-0} - ${a:-0}))
  perl -0777 -ne '
    sub text { my $t = shift // ""; $t =~ s/&lt;/</g; $t =~ s/&gt;/>/g; $t =~ s/&quot;/"/g; $t =~ s/&apos;/\x27/g; $t =~ s/&#xA;/\n/g; $t =~ s/&amp;/&/g; $t }
    sub head { my ($t, $n) = @_; my @l = split /\n/, text($t); join("\n", map { "    $_" } @l[0 .. ($n < @l ? $n - 1 : $#l)]) }
    while (/<UnitTestResult ([^>]*?outcome="(?:Failed|Error|Timeout|Aborted)"[^>]*?)(?:\/>|>(.*?)<\/UnitTestResult>)/gs) {
      my ($attributes, $body) = ($1, $2 // "");
      my ($name) = $attributes =~ /testName="([^"]*)"/;
      my ($message) = $body =~ /<Message>(.*?)<\/Message>/s;
      my ($stack) = $body =~ /<StackTrace>(.*?)<\/StackTrace>/s;
      print "FAILED ", text($name), "\n", head($message, 12), "\n", head($stack, 8), "\n";
    }' "$trx"
done
line="tests: $passed passed, $failed failed"
((skipped > 0)) && line+=", $skipped skipped"
echo "$line"
((failed == 0 && passed > 0))
