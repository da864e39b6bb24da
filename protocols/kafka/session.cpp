// The kafka_user hot path. A produce renders its topic, value, key and headers into the user's
// buffers, hands them to the run's producer (librdkafka copies them) with a heap Completer of a
// OneShot as the message's opaque, and parks: the poll thread's delivery report completes it
// and the user resumes on its own worker; the latency is until the delivery report. Consume,
// flush and close block in librdkafka, so they run on the run's OffloadPool; a user's
// consumers (one per topic, group and start offset, as the original cached them) live in a
// block the pool thread shares with the session.
#include <utility>  // before Asio (Boost 1.74 trap)

#include "common/op_scope.hpp"
#include "kafka_impl.hpp"

namespace ld::proto::kafka {

namespace {

using stats::ErrorInfo;
using stats::ErrorKind;

class KafkaSession final : public engine::UserSession {
 public:
  KafkaSession(Tasks& tasks, engine::WorkerContext& w)
      : tasks_(tasks), w_(w), shared_(std::make_shared<Shared>(tasks)) {
    std::size_t headers = 0;
    for (const auto& s : tasks.steps) headers = std::max(headers, s.headers.size());
    header_values_.resize(headers);
    vus_.reserve(5 + headers);
  }

  net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
    const Step& step = tasks_.steps[index];
    OpScope op(w_, step.name_id, planned, step.timeout);
    switch (step.method) {
      case Method::kProduce:
        co_await produce(step, op);
        break;
      case Method::kConsume:
        co_await consume_step(step, op);
        break;
      case Method::kFlush:
      case Method::kClose:
        co_await offload(step, op);
        break;
    }
    op.finish();
  }

 private:
  ErrorInfo kafka_error(int err, const std::string& text) {
    return {ErrorKind::kKafkaError, w_.intern(text), err, false};
  }
  ErrorInfo kafka_error(int err) {
    std::string text = rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err));
    text += ": ";
    text += rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(err));
    return kafka_error(err, text);
  }
  // A OneShot that gave up: the test abandoned it, or its timeout passed.
  ErrorInfo gave_up(const OpScope& op) const {
    return w_.aborting && *w_.aborting ? engine::kAbortedError : op.timed_out();
  }

  net::awaitable<void> produce(const Step& step, OpScope& op) {
    const Cluster& cl = *tasks_.clusters[step.cluster];
    topic_.clear();
    step.topic.render(topic_, *w_.scope);
    vus_.clear();
    auto add = [&](rd_kafka_vtype_t t) -> rd_kafka_vu_t& {
      vus_.emplace_back();
      vus_.back().vtype = t;
      return vus_.back();
    };
    add(RD_KAFKA_VTYPE_TOPIC).u.cstr = topic_.c_str();
    add(RD_KAFKA_VTYPE_MSGFLAGS).u.i = RD_KAFKA_MSG_F_COPY;
    std::uint64_t out = 0;
    // The value and the key: rendered into the session's buffer, handed over as bytes.
    auto bytes = [&](rd_kafka_vtype_t t, const params::Template& tpl, std::string& buf) {
      buf.clear();
      tpl.render(buf, *w_.scope);
      auto& v = add(t);
      v.u.mem.ptr = buf.data();
      v.u.mem.size = buf.size();
      out += buf.size();
    };
    if (step.has_value) bytes(RD_KAFKA_VTYPE_VALUE, step.value, value_);
    if (step.has_key) bytes(RD_KAFKA_VTYPE_KEY, step.key, key_);
    for (std::size_t i = 0; i < step.headers.size(); ++i) {
      std::string& h = header_values_[i];
      h.clear();
      step.headers[i].value.render(h, *w_.scope);
      auto& v = add(RD_KAFKA_VTYPE_HEADER);
      v.u.header.name = step.headers[i].name.c_str();
      v.u.header.val = h.data();
      v.u.header.size = static_cast<ssize_t>(h.size());
      out += step.headers[i].name.size() + h.size();
    }
    engine::OneShot<int> delivered(w_);
    auto* completer = new engine::OneShot<int>::Completer(delivered.completer());
    add(RD_KAFKA_VTYPE_OPAQUE).u.ptr = completer;
    op.rec.bytes_out = out;
    if (rd_kafka_error_t* e = rd_kafka_produceva(cl.producer, vus_.data(), vus_.size())) {
      delete completer;  // not queued: no delivery report will come
      op.rec.error = kafka_error(rd_kafka_error_code(e), rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      co_return;
    }
    const std::optional<int> err = co_await delivered.wait(op.rec.start + step.timeout);
    if (!err) {
      op.rec.error = gave_up(op);
    } else if (*err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      op.rec.error = kafka_error(*err);
    }
  }

  net::awaitable<void> consume_step(const Step& step, OpScope& op) {
    Shared& s = *shared_;
    s.topic.clear();
    step.topic.render(s.topic, *w_.scope);
    s.group.clear();
    if (step.has_group) step.group.render(s.group, *w_.scope);
    s.deadline = op.rec.start + step.timeout;
    auto job = [sh = shared_, cl = tasks_.clusters[step.cluster].get(), st = &step] {
      return consume(*sh, *cl, *st);
    };
    const Outcome o = co_await tasks_.pool->run(w_, std::move(job), nullptr);
    if (o != Outcome::kOk) {
      op.rec.error = o == Outcome::kTimeout ? gave_up(op) : kafka_error(s.err, s.error);
      co_return;
    }
    op.rec.bytes_in = s.value.size() + s.key.size();
    if (step.has_expect) {
      expect_.clear();
      step.expect.render(expect_, *w_.scope);
      if (s.value.find(expect_) == std::string::npos) {
        op.rec.error = {ErrorKind::kAssertion, step.expect_message.c_str(), 0, false};
        co_return;
      }
    }
    if (step.checks) {
      if (const char* msg = step.checks->apply(checks::ResponseView{0, s.value, {}}, *w_.scope)) {
        op.rec.error = {ErrorKind::kAssertion, msg, 0, false};
        co_return;
      }
    }
    if (w_.keep_bodies > 0) op.rec.text = std::string_view(s.value).substr(0, w_.keep_bodies);
  }

  net::awaitable<void> offload(const Step& step, OpScope& op) {
    Shared& s = *shared_;
    s.deadline = op.rec.start + step.timeout;
    if (step.method == Method::kClose) {
      auto job = [sh = shared_] {
        close_consumers(*sh);
        return Outcome::kOk;
      };
      co_await tasks_.pool->run(w_, std::move(job), nullptr);
      co_return;
    }
    auto job = [sh = shared_, cl = tasks_.clusters[step.cluster].get()] { return flush(*cl, *sh); };
    const Outcome o = co_await tasks_.pool->run(w_, std::move(job), nullptr);
    if (o == Outcome::kTimeout) op.rec.error = gave_up(op);
    if (o == Outcome::kKafkaError) op.rec.error = kafka_error(s.err, s.error);
  }

  Tasks& tasks_;
  engine::WorkerContext w_;
  std::shared_ptr<Shared> shared_;
  std::string topic_, value_, key_, expect_;
  std::vector<std::string> header_values_;
  std::vector<rd_kafka_vu_t> vus_;
};

}  // namespace

std::unique_ptr<engine::UserSession> Tasks::new_user(engine::WorkerContext& worker) {
  return std::make_unique<KafkaSession>(*this, worker);
}

void Tasks::start_run(unsigned) {
  pool = std::make_unique<engine::OffloadPool>(kPoolThreads);
  for (auto& c : clusters) {
    if (!c->produces) continue;
    try {
      start_producer(*c);
    } catch (...) {
      for (auto& started : clusters) stop_producer(*started);
      pool.reset();
      throw;
    }
  }
}

void Tasks::end_run() noexcept {
  if (pool) pool->stop();
  for (auto& c : clusters) stop_producer(*c);
  std::vector<rd_kafka_t*> retired;
  {
    std::lock_guard<std::mutex> lock(retired_mu_);
    retired.swap(retired_);
  }
  for (rd_kafka_t* rk : retired) rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

void Tasks::retire(rd_kafka_t* rk) {
  std::lock_guard<std::mutex> lock(retired_mu_);
  retired_.push_back(rk);
}

}  // namespace ld::proto::kafka
