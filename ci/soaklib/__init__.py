"""ci/soak's pieces: one module per job.

cli       options, the run from start to verdict, cleanup (also on Ctrl-C)
daemon    pfsd in host mode on a scratch shared dir + mountpoint; stop by PID, unmount
load      the client processes doing random operations through the mount
model     what a client believes its own subtree holds (names, inodes, data, xattrs)
treecheck the end check: each client's model against the mount, the mount against the host
sampler   /proc of the serving pfsd process: fds, VmRSS, threads; dropping dentries
verdict   the flat-or-growing rule
report    the per-interval line, the CSV, the summary
plot      the PNG (gnuplot)
"""
