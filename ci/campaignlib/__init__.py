"""ci/campaign's parts, one job per module.

timeline  coverage and corpus size over time (libFuzzer's progress lines, AFL++'s
          StatsD gauges); the gain in the last 10% of a run; the CSV
plot      the PNG of the timeline (gnuplot-nox)
covsummary  lines and branches covered per target (llvm-cov export -summary-only)
afl       AFL++ instance names and what fuzzer_stats in a sync folder say
statsd    AFL++'s gauges while it runs (AFL_STATSD), one UDP port per instance
result    one engine's run of one target
table     the end-of-campaign table
"""
