"""ci/campaign's parts, one job per module.

timeline  coverage and corpus size over time: libFuzzer's progress lines, AFL++'s
          plot_data; the gain in the last 10% of a run; the CSV
plot      the PNG of the timeline (gnuplot-nox)
covsummary  lines and branches covered per target (llvm-cov export -summary-only)
afl       AFL++ instance names and what fuzzer_stats in a sync folder say
table     the end-of-campaign table
"""
