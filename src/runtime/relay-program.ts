/**
 * The program each agent of a broadcast runs (see broadcast.ts), in Perl because every
 * Debian-family machine has perl-base (it is Essential) and the fieldtest agent image is one:
 * nothing is installed, the source travels in the command line of each use.
 *
 *   perl -e PROGRAM MODE FILE SIZE PORTS IDLE_SECONDS
 *
 * The first stdin line is TOKEN, which a predecessor must send (never in the argv, which any user
 * of the agent may read). MODE `relay` binds the first free port of PORTS (a comma list from the
 * agent's slice) and prints `port N`; then the next stdin line says where the bytes come from, `stdin` (they follow
 * on the runner's SSH channel; the port is closed at once) or `net` (from the one predecessor that
 * connects and sends TOKEN), and lists the successors, `host:port` separated by spaces. MODE
 * `source` sends FILE, already on this agent, to the successors its next stdin line lists. Each
 * block read is sent to the successors first, so the stream moves on at once, then written to
 * FILE and to a hasher per 16 MiB chunk (`openssl dgst -sha256 -r`, else `sha256sum`), whose
 * lines (`<hex> *stdin` or `<hex>  -`) reach the runner on stdout, which checks them against the
 * local content hash. A socket is read only once LOWAT bytes (or the rest) are there (SO_RCVLOWAT):
 * a stream held to the runner's uplink otherwise arrives in reads of a few KiB, and every read
 * costs each hop a select, a send per successor, a file write and a pipe write. A successor that fails
 * or stalls for IDLE seconds is dropped (`lost host:port why`) and the rest go on; no data for IDLE
 * seconds, a short stream or stdin closing (the runner gone) ends the relay with an error on
 * stderr. `at N` lines, at most one a second, say it is alive; `done N` ends it. The listening
 * socket is closed once the predecessor is in, so nothing listens longer than the copy.
 */
export const RELAY_PROGRAM = String.raw`
use strict; use warnings;
use IO::Socket::INET; use IO::Select; use Socket qw(SOL_SOCKET SO_RCVLOWAT); use Errno qw(EAGAIN EWOULDBLOCK EINTR);
$| = 1; $SIG{PIPE} = 'IGNORE';
my ($mode, $file, $size, $ports, $idle) = @ARGV;
$0 = "fieldtest-relay $mode $file";
# The token comes first on stdin: in an argv, any user of the agent could read it from /proc.
my $token = read_line(\*STDIN, $idle);
die "no token on stdin\n" unless defined $token;
my $BLOCK = 1 << 20; my $LOWAT = 1 << 18;

sub read_line { my ($fh, $timeout) = @_; my $line = ''; my $sel = IO::Select->new($fh);
  while (1) { return undef unless $sel->can_read($timeout); my $c; my $n = sysread($fh, $c, 1);
    return undef unless $n; return $line if $c eq "\n"; $line .= $c; return undef if length($line) > 4096; } }

sub write_all { my ($fh, $data, $timeout) = @_; my $off = 0; my $sel = IO::Select->new($fh);
  while ($off < length($data)) {
    my $n = syswrite($fh, $data, length($data) - $off, $off);
    if (defined $n) { $off += $n; next; }
    return 0 unless $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
    if (!$sel->can_write($timeout)) { $! = 110; return 0; } }
  return 1; }

my $listener;
if ($mode eq 'relay') {
  for my $p (split /,/, $ports) {
    $listener = IO::Socket::INET->new(LocalPort => $p, Listen => 4, ReuseAddr => 1, Proto => 'tcp');
    last if $listener; }
  die "no free port among " . $ports . " for the relay\n" unless $listener;
  print "port ", $listener->sockport, "\n"; }

my $control = read_line(\*STDIN, 3600);
die "the runner went away before the relay started\n" unless defined $control;
my ($from, @to) = split / /, $control;
my @next;
for my $to (grep { length } @to) {
  my ($host, $port) = $to =~ /^(.+):(\d+)$/ or die "bad successor " . $to . "\n";
  my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp', Timeout => $idle);
  if ($s && write_all($s, $token . "\n", $idle)) { $s->blocking(0); push @next, [$to, $s]; }
  else { print "lost ", $to, " cannot connect: ", ($@ || $!), "\n"; } }

my $in;
if ($mode eq 'source') { open($in, '<', $file) or die "cannot read " . $file . ": " . $! . "\n"; }
elsif ($from eq 'stdin') { $in = \*STDIN; close $listener; }
else {
  my $sel = IO::Select->new($listener, \*STDIN);
  my $deadline = time + $idle;
  while (!$in) {
    for my $h ($sel->can_read(1)) {
      if (fileno($h) == fileno($listener)) {
        my $c = $listener->accept or next;
        my $said = read_line($c, $idle);
        if (defined $said && $said eq $token) { $in = $c; } else { close $c; } }
      else { my $b; die "the runner went away before the predecessor connected\n" unless sysread(STDIN, $b, 1); } }
    die "no predecessor connected within " . $idle . " s\n" if !$in && time > $deadline; }
  close $listener; }
binmode $in;
# Only sockets take a low-water mark. The runner's stdin is sshd's pipe: made 1 MiB large, it
# holds what arrives while the relay waits a moment after a short read.
my $is_socket = $mode ne 'source' && $from ne 'stdin';
my $is_pipe = $mode ne 'source' && $from eq 'stdin';
fcntl($in, 1031, $BLOCK) if $is_pipe;
sub lowat { my ($bytes) = @_; setsockopt($in, SOL_SOCKET, SO_RCVLOWAT, $bytes < $LOWAT ? $bytes : $LOWAT) if $is_socket && $bytes > 0; }
lowat($size);

# One hasher per 16 MiB chunk, fed directly; closing it waits for its line, so lines come in order.
# openssl's SHA-256 uses the CPU's SHA instructions, at about a quarter of sha256sum's CPU time.
my @HASHER = (grep { -x $_ . '/openssl' } split /:/, $ENV{PATH}) ? ('openssl', 'dgst', '-sha256', '-r') : ('sha256sum');
my $CHUNK = 16777216; my ($hash, $filled) = (undef, 0);
sub hash_bytes { my ($data) = @_; my $off = 0;
  while ($off < length($data)) {
    if (!$hash) { open($hash, '|-', @HASHER) or die "cannot start " . $HASHER[0] . ": " . $! . "\n"; binmode $hash; $filled = 0;
      # A 1 MiB pipe (F_SETPIPE_SZ) takes a block in one write instead of 16 turns with the hasher.
      fcntl($hash, 1031, $BLOCK); }
    my $take = length($data) - $off; $take = $CHUNK - $filled if $take > $CHUNK - $filled;
    write_all($hash, $off == 0 && $take == length($data) ? $data : substr($data, $off, $take), $idle) or die "hashing failed: " . $! . "\n";
    $off += $take; $filled += $take;
    if ($filled == $CHUNK) { close $hash or die "hashing failed\n"; $hash = undef; } } }

my $out;
if ($mode ne 'source') { open($out, '>', $file) or die "cannot write " . $file . ": " . $! . "\n"; binmode $out; }

my $got = 0; my $said_at = time; my $sel = IO::Select->new($in); my $buf;
while ($got < $size) {
  die "no data for " . $idle . " s after " . $got . " of " . $size . " bytes\n" unless $sel->can_read($idle);
  my $want = $size - $got; $want = $BLOCK if $want > $BLOCK;
  my $n = sysread($in, $buf, $want);
  die "reading the stream failed after " . $got . " of " . $size . " bytes: " . $! . "\n" unless defined $n;
  die "the stream ended after " . $got . " of " . $size . " bytes\n" if $n == 0;
  $got += $n; lowat($size - $got) if $size - $got < $LOWAT;
  select(undef, undef, undef, 0.01) if $is_pipe && $n < $LOWAT && $got < $size;
  for my $s (@next) {
    next unless $s->[1];
    next if write_all($s->[1], $buf, $idle);
    print "lost ", $s->[0], " ", $!, "\n"; close $s->[1]; $s->[1] = undef; }
  if ($out) {
    write_all($out, $buf, $idle) or die "writing " . $file . " failed: " . $! . "\n";
    hash_bytes($buf); }
  if (time != $said_at) { $said_at = time; print "at ", $got, "\n"; } }
for my $s (@next) { if ($s->[1]) { $s->[1]->blocking(1); shutdown($s->[1], 1); } }
if ($out) { close $out or die "writing " . $file . " failed: " . $! . "\n"; if ($hash) { close $hash or die "hashing failed\n"; } }
print "done ", $got, "\n";
`;
