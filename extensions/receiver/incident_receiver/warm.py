"""Warm launcher (dispatch.launcher: warm): a long-lived "zygote" process that has imported Ansible,
ansible-runner, the collection's plugins and the runner's event callback once, and forks one fresh
process per run, so a run starts without paying Ansible's start-up (imports, configuration, plugin
routing and documentation) again.

A run launched warm is the same `ansible-runner run` as a cold launch, step for step:

  receiver --(request + the run's lock fd, over a socketpair)--> zygote --fork--> B: setsid, stdin
  /dev/null, stdout/stderr to runs/job-N/attempt-K.log, the run's environment, cwd = the run's
  directory, then ansible_runner's own `main()` with the receiver's cold argv (same RunnerConfig, same
  env/extravars and env/settings, same artifacts: command, job_events, stdout, status, rc). B holds the
  run lock to its end, like the cold runner process.

  B's runner spawns "ansible-playbook" in a pty exactly as it would cold (pexpect/ptyprocess: window
  size, echo off, fds closed, cwd, SIGHUP ignored); only the last step differs: instead of exec'ing
  ansible-playbook, the pty child G sets the environment runner computed, drops the close-on-exec fds
  (what exec would do), re-evaluates Ansible's settings from that environment and runs
  ansible.cli.playbook in-process. G dies with B (PR_SET_PDEATHSIG): a run whose runner died is dead
  and is launched again, as cold.

What must match the zygote for G to run in-process (else G exec's the real ansible-playbook: a cold
start inside the same warm runner, noted in attempt-K.log): every environment variable Ansible or
Python read at import time (ANSIBLE_* except the per-run ANSIBLE_CACHE_PLUGIN_CONNECTION, PATH, HOME,
LANG/LC_*, PYTHON*, TMPDIR, ORIGINAL_STDOUT_CALLBACK, AD_HOC_COMMAND_ID, AWX_LIB_DIRECTORY) and the
ansible.cfg file itself. The zygote also refuses a request (the receiver then launches cold and starts
a new zygote) once ansible.cfg or a collection file it imported changed on disk.

Crash semantics are the cold ones: runs live in their own sessions, so neither the zygote nor the
receiver dying touches them; the zygote exits when the receiver's end of the socket closes.
"""
import importlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time

from incident_receiver.runlock import LOCK_FILE, lock_held, process_start

LOG = logging.getLogger("incident_receiver")

# Per-run values of the runner's environment: differ from the zygote's, read at run time only.
PER_RUN = frozenset(("ANSIBLE_CACHE_PLUGIN_CONNECTION", "AWX_ISOLATED_DATA_DIR", "INCIDENT_ID", "JOB_ID"))
IMPORT_TIME = frozenset(("PATH", "HOME", "LANG", "LANGUAGE", "TMPDIR", "ORIGINAL_STDOUT_CALLBACK",
                         "AD_HOC_COMMAND_ID", "AWX_LIB_DIRECTORY"))
MAX_MESSAGE = 1 << 20


def import_time_env(env):
    """The part of an environment the zygote's imports depended on."""
    return {k: v for k, v in env.items() if k not in PER_RUN and (
        k in IMPORT_TIME or k.startswith(("ANSIBLE_", "LC_", "PYTHON")))}


# -- receiver side ---------------------------------------------------------------------------------
class WarmUnavailable(RuntimeError):
    """The zygote cannot launch this run (not started, still warming, dead, stale): launch cold."""


class WarmProcess:
    """A run forked by the zygote: not the receiver's child, so wait() polls its pid (a zombie is gone)."""

    def __init__(self, pid, poll_s):
        self.pid = pid
        self.poll_s = poll_s
        self.start = process_start(pid)

    def poll(self):
        return None if self.start is not None and process_start(self.pid) == self.start else 0

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("warm run %d" % self.pid, timeout)
            time.sleep(self.poll_s)
        return 0


class LockWatch:
    """A run whose runner pid is unknown (the zygote took the request, then gave no answer): alive while
    some process holds the run lock."""
    pid = 0

    def __init__(self, pdd, poll_s):
        self.pdd, self.lock_path, self.poll_s = pdd, os.path.join(pdd, LOCK_FILE), poll_s

    def _held(self):
        return lock_held(self.pdd)

    def poll(self):
        return None if self._held() else 0

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._held():
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("warm run (lock %s)" % self.lock_path, timeout)
            time.sleep(self.poll_s)
        return 0


class WarmLauncher:
    """The receiver's handle on its zygote: started at once, restarted (at most every `restart_s`)
    after it died or went stale; one request at a time."""

    def __init__(self, env, cwd, log_path, ready_timeout_s=15.0, restart_s=5.0, poll_s=0.2):
        self.env, self.cwd, self.log_path = env, cwd, log_path
        self.ready_timeout_s, self.restart_s, self.poll_s = ready_timeout_s, restart_s, poll_s
        self.lock = threading.Lock()
        self.proc = self.sock = None
        self.ready = False
        self.failed_at = None
        self.info = {}

    def start(self):
        """Spawn the zygote (it warms up in the background; launch() waits for it)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen([sys.executable, "-m", "incident_receiver.warm", str(theirs.fileno())],
                                             cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True,
                                             pass_fds=(theirs.fileno(),))
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self.sock, self.ready = ours, False
        LOG.info("warm launcher: zygote pid %d warming up", self.proc.pid)

    def close(self):
        with self.lock:
            self._drop()

    def _drop(self):
        if self.sock is not None:
            self.sock.close()          # EOF: the zygote exits (its runs do not)
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None
        self.ready = False

    def _fail(self, why):
        self._drop()
        self.failed_at = time.monotonic()
        raise WarmUnavailable(why)

    def _wait_ready(self):
        if self.ready:
            return
        self.sock.settimeout(self.ready_timeout_s)
        try:
            msg = self.sock.recv(MAX_MESSAGE)
        except socket.timeout:
            self._fail("zygote not ready within %gs" % self.ready_timeout_s)
        except OSError as exc:
            self._fail("zygote unreachable: %s" % exc)
        finally:
            if self.sock is not None:
                self.sock.settimeout(None)
        reply = json.loads(msg) if msg else {}
        if not reply.get("ready"):
            self._fail("zygote exited while warming up (%s)" % (reply.get("error") or "see warm.log"))
        self.ready, self.info = True, reply
        LOG.info("warm launcher: zygote pid %d ready in %.2fs", self.proc.pid, reply.get("warmup_s", 0))

    def launch(self, argv, env, cwd, log_path, lock_fd):
        """Fork a run in the zygote: `python -m ansible_runner <argv>` as B; returns a WarmProcess."""
        with self.lock:
            if self.sock is None:
                if self.failed_at is not None and time.monotonic() - self.failed_at < self.restart_s:
                    raise WarmUnavailable("zygote died %.1fs ago; restarting it in %gs"
                                          % (time.monotonic() - self.failed_at, self.restart_s))
                try:
                    self.start()
                except OSError as exc:
                    self.failed_at = time.monotonic()
                    raise WarmUnavailable("cannot start the zygote: %s" % exc) from None
            if self.proc.poll() is not None:
                self._fail("zygote exited with %s" % self.proc.returncode)
            self._wait_ready()
            request = json.dumps({"argv": argv, "env": env, "cwd": cwd, "log": log_path}).encode()
            try:
                socket.send_fds(self.sock, [request], [lock_fd])
            except OSError as exc:
                self._fail("zygote unreachable: %s" % exc)
            try:
                self.sock.settimeout(30)
                msg = self.sock.recv(MAX_MESSAGE)
                self.sock.settimeout(None)
                reply = json.loads(msg) if msg else {"error": "zygote exited"}
            except (OSError, ValueError) as exc:
                reply = {"error": "no answer from the zygote: %s" % exc, "sent": True}
            if reply.get("pid"):
                return WarmProcess(int(reply["pid"]), self.poll_s)
            if "sent" in reply or reply.get("error") == "zygote exited":
                # The request (and the lock) went over: a runner may exist. Never start a second one
                # beside it: follow the lock; the caller then reads the outcome or launches again.
                LOG.warning("warm launcher: %s; following the run's lock", reply["error"])
                self._drop()
                self.failed_at = time.monotonic()
                return LockWatch(cwd, self.poll_s)
            self._fail(reply.get("error") or "no pid in the zygote's answer")
            return None


# -- the zygote ------------------------------------------------------------------------------------
def _runner_env(argv):
    """The environment ansible-runner computes for a run of these arguments (its RunnerConfig on a
    scratch private data dir): the zygote imports Ansible under it."""
    import shutil  # pylint: disable=import-outside-toplevel
    import tempfile  # pylint: disable=import-outside-toplevel
    scratch = tempfile.mkdtemp(prefix="incident-zygote-")
    try:
        runner_config = _module("ansible_runner.config.runner").RunnerConfig
        config = runner_config(private_data_dir=scratch, playbook="warm-up.yml", ident="warm-up", quiet=True,
                               project_dir=argv.get("project_dir"), inventory=argv.get("inventory"))
        config.prepare_env()
        return dict(config.env)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def warm_up():
    """Import and load, once, what every run needs before its first task. Nothing here may start a
    thread, open a socket or take a lock that a forked run would inherit."""
    project_dir, inventory = os.environ.get("INCIDENT_WARM_PROJECT"), os.environ.get("INCIDENT_WARM_INVENTORY")
    env = _runner_env({"project_dir": project_dir, "inventory": inventory})
    os.environ.clear()
    os.environ.update(env)
    if project_dir:
        os.chdir(project_dir)
    for name in ("ansible_runner.__main__", "ansible_runner.interface", "pexpect", "ansible.constants",
                 "ansible.cli.playbook", "ansible.executor.playbook_executor", "ansible.executor.task_executor",
                 "ansible.executor.task_queue_manager"):
        _module(name)
    loader = _module("ansible.plugins.loader")
    loader.init_plugin_loader([])
    _preload(loader)


def _module(name):
    """Ansible's and ansible-runner's modules, imported by name (in the zygote, or found in sys.modules)."""
    return importlib.import_module(name)


def _preload(loader):
    """Plugin classes (and their option definitions, parsed from their YAML docs) every run loads:
    what PlaybookExecutor and TaskQueueManager list with all() (connections, shells, become methods,
    callbacks, including the runner's awx_display, whose per-run state G resets), the strategy, the
    common actions, the inventory plugins, filters and tests. Not vars plugins: their instances cache
    what they found on disk."""
    C = _module("ansible.constants")  # pylint: disable=invalid-name
    for plugin_loader in (loader.connection_loader, loader.shell_loader, loader.become_loader, loader.callback_loader,
                          loader.filter_loader, loader.test_loader):
        try:
            list(plugin_loader.all(class_only=True))
        except Exception:  # pylint: disable=broad-except
            pass            # what does not load warm loads (and fails) in the run itself
    wanted = [(loader.strategy_loader, [C.DEFAULT_STRATEGY]),
              (loader.action_loader, ["ansible.builtin.normal", "ansible.builtin.command", "ansible.builtin.debug",
                                      "ansible.builtin.set_fact", "ansible.builtin.include_role",
                                      "ansible.builtin.assert", "ansible.builtin.copy", "ansible.builtin.template"]),
              (loader.cache_loader, [C.CACHE_PLUGIN]),
              (loader.callback_loader, list(C.CALLBACKS_ENABLED or []) + [C.DEFAULT_STDOUT_CALLBACK]),
              (loader.inventory_loader, list(C.INVENTORY_ENABLED or [])),
              (loader.lookup_loader, ["ansible.builtin.env", "ansible.builtin.file"])]
    for plugin_loader, names in wanted:
        for name in names:
            try:
                plugin_loader.get(name, class_only=True)
            except Exception:  # pylint: disable=broad-except
                continue


def _watched_files(repo):
    """Collection files the zygote imported (a change makes it stale), with ansible.cfg."""
    out = {}
    paths = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
    paths.append(os.environ.get("ANSIBLE_CONFIG"))
    for path in paths:
        real = os.path.realpath(path) if path else ""
        if real.startswith(repo + os.sep) and not real.startswith(os.path.realpath(sys.prefix) + os.sep):
            try:
                out[path] = os.stat(path).st_mtime_ns
            except OSError:
                continue
    return out


def _stale(watched):
    for path, mtime in watched.items():
        try:
            if os.stat(path).st_mtime_ns != mtime:
                return path
        except OSError:
            return path
    return None


def zygote(fd):
    """Main loop: warm up, say ready, then one forked run per request until the receiver hangs up."""
    sock = socket.socket(fileno=fd)
    started = time.monotonic()
    try:
        warm_up()
    except Exception as exc:  # pylint: disable=broad-except
        sock.send(json.dumps({"ready": False, "error": "%s: %s" % (type(exc).__name__, exc)}).encode())
        raise
    baseline = import_time_env(os.environ)
    repo = os.path.realpath(os.environ.get("INCIDENT_WARM_PROJECT") or os.getcwd())
    watched = _watched_files(repo)
    threads = threading.active_count()
    sock.send(json.dumps({"ready": True, "pid": os.getpid(), "warmup_s": round(time.monotonic() - started, 3),
                          "threads": threads, "watched": len(watched)}).encode())
    took = time.monotonic() - started
    print("zygote %d ready in %.2fs (%d threads, %d watched files)" % (os.getpid(), took, threads, len(watched)), flush=True)
    sock.settimeout(1.0)           # wakes up to reap the runs that ended (zombies meanwhile, never "alive")
    while True:
        _reap()
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, 4)
        except (InterruptedError, TimeoutError):
            continue
        if not msg:
            return 0               # the receiver is gone (or stopping): runs carry on without us
        stale = _stale(watched)
        if stale or len(fds) != 1:
            for extra in fds:
                os.close(extra)
            sock.send(json.dumps({"error": "zygote stale: %s changed" % stale if stale
                                  else "expected one lock fd"}).encode())
            return 0
        request = json.loads(msg)
        try:
            pid = _fork_run(request, fds[0], sock, baseline)
        finally:
            os.close(fds[0])       # the run keeps its own copy of the lock
        sock.send(json.dumps({"pid": pid}).encode())


def _reap():
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return


def _fork_run(request, lock_fd, sock, baseline):
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        sock.close()
        code = _run(request, lock_fd, baseline)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # pylint: disable=broad-except
        import traceback  # pylint: disable=import-outside-toplevel
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)  # pylint: disable=protected-access
    return None


def _run(request, lock_fd, baseline):
    """B, the run's runner process: as `python -m ansible_runner <argv>` started detached by the
    receiver (own session, stdin /dev/null, output to the attempt log, the run lock held)."""
    import signal  # pylint: disable=import-outside-toplevel
    os.setsid()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL if signum != signal.SIGINT else signal.default_int_handler)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.set_inheritable(lock_fd, True)    # held to the end of this process (ptyprocess closes it in G)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    print("warm launch: runner pid %d forked from zygote %d" % (os.getpid(), os.getppid()), flush=True)
    _module("ptyprocess.ptyprocess").os = _ExecShim(baseline, request["log"])
    sys.argv = [sys.executable, "-m", "ansible_runner"] + list(request["argv"])
    return _module("ansible_runner.__main__").main(list(request["argv"]))


class _ExecShim:
    """`os` as ptyprocess sees it in the run's runner: the same, except execvpe of ansible-playbook,
    which runs the playbook in-process (G) when the environment allows it."""

    def __init__(self, baseline, log):
        self._baseline, self._log = baseline, log

    def __getattr__(self, name):
        return getattr(os, name)

    def execvpe(self, command, argv, env):
        name = os.path.basename(os.fsdecode(command))
        env = {os.fsdecode(k): os.fsdecode(v) for k, v in env.items()}
        wanted = import_time_env(env)
        differ = sorted(k for k in set(wanted) | set(self._baseline) if wanted.get(k) != self._baseline.get(k))
        if name != "ansible-playbook" or differ:
            if differ:
                _note(self._log, "warm launcher: %s differs from the zygote's: ansible-playbook started cold" % ", ".join(differ))
            os.execvpe(command, argv, env)
        _note(self._log, "warm launch: ansible-playbook in-process (pid %d)" % os.getpid())
        _exit_in_process(playbook_in_process(argv, env))


def _note(path, text):
    try:
        with open(path, "a") as fh:
            fh.write(text + "\n")
    except OSError:
        pass


def _exit_in_process(code):
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)  # pylint: disable=protected-access


def _close_on_exec_fds():
    """Close what exec would: every fd marked close-on-exec (ptyprocess's exec error pipe)."""
    import fcntl  # pylint: disable=import-outside-toplevel
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                if fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                    os.close(fd)
            except OSError:
                continue


def playbook_in_process(argv, env):
    """G: `ansible-playbook argv[1:]` in this (forked, pre-warmed) process, under `env`; returns its rc."""
    import ctypes  # pylint: disable=import-outside-toplevel
    import signal  # pylint: disable=import-outside-toplevel
    import warnings  # pylint: disable=import-outside-toplevel
    _close_on_exec_fds()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG: die with the runner
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:
        return 1
    for signum in (signal.SIGTERM, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    changed = {k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k)}
    os.environ.clear()
    os.environ.update(env)
    argv = [os.fsdecode(a) for a in argv]
    sys.argv = list(argv)
    warnings.filterwarnings("ignore", message="AnsibleCollectionFinder has already been configured")
    C = _module("ansible.constants")  # pylint: disable=invalid-name
    # Settings are module constants computed at import: those this run's environment changes, again
    # (the launcher only comes here when those are per-run ones, such as the fact cache directory).
    for setting, definition in C.config.get_configuration_definitions().items():
        if any(entry.get("name") in changed for entry in definition.get("env") or []):
            C.set_constant(setting, C.config.get_config_value(setting, variables=vars(C)))
    display = _module("ansible.utils.display").Display()     # the process's singleton
    display._set_column_width()  # pylint: disable=protected-access
    importlib.reload(_module("ansible.utils.color"))   # colour is decided at import from stdout being a tty: now it is the run's pty
    for name, module in list(sys.modules.items()):
        # ansible-runner's event callback keeps the artifact dir it read at import: this run's.
        if name.endswith("awx_display") and hasattr(module, "IsolatedFileWrite") and hasattr(module, "event_context"):
            module.event_context.cache = module.IsolatedFileWrite()
    try:
        _module("ansible.cli.playbook").PlaybookCLI.cli_executor(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    return zygote(int(argv[0]))


if __name__ == "__main__":
    sys.exit(main())
